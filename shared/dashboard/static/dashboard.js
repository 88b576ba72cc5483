// Queue Services dashboard: actions, the job list (from GET /api/admin/jobs) and live refresh.
// Hand-written, no dependencies; loaded with the page's CSP nonce.
(() => {
  "use strict";
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const BASE = meta("dashboard-base");
  const REFRESH_MS = Number(meta("refresh-ms")) || 5000;
  const toast = document.getElementById("toast");
  const liveStatus = document.getElementById("live-status");
  const jobs = document.getElementById("jobs");
  const searchForm = document.getElementById("search");
  const note = document.getElementById("search-note");
  const nextButton = document.getElementById("next-page");
  let pageCursor = "";
  let nextCursor = null;
  let gone = false;

  function say(text, bad) {
    toast.textContent = text;
    toast.className = bad ? "error" : "";
    clearTimeout(say.timer);
    say.timer = setTimeout(() => { toast.textContent = ""; }, 8000);
  }

  function when(ms) {
    return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "—";
  }

  function age(ms) {
    if (!ms) return "—";
    let s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  function searchFilter() {
    if (!searchForm) return {};
    const form = new FormData(searchForm);
    const out = {};
    for (const name of ["workspaceId", "contactId", "q"]) {
      const value = String(form.get(name) || "").trim();
      if (value) out[name] = value;
    }
    return out;
  }

  async function act(action, body) {
    const answer = await fetch(`${BASE}/actions/${action}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": meta("csrf-token") },
      body: JSON.stringify(body),
    });
    const doc = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      say(`${action} refused (${answer.status}): ${doc.detail || doc.title || ""}`, true);
      return null;
    }
    say(doc.message);
    await refresh();
    return doc;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const d = button.dataset;
    if (d.confirm && !window.confirm(d.confirm)) return;
    const body = {};
    if (d.job) body.jobId = d.job;
    if (d.queue) body.queue = d.queue;
    if (d.delayFrom) body.delayMs = Math.round(Number(document.getElementById(d.delayFrom).value) * 1000);
    if (d.jsonFrom) {
      try {
        body[d.jsonField || "data"] = JSON.parse(document.getElementById(d.jsonFrom).value);
      } catch (err) {
        say(`The data is not valid JSON: ${err.message}`, true);
        return;
      }
    }
    if (d.stateFromTab && jobs) body.state = jobs.dataset.state;
    if (d.withSearch) {
      const filter = searchFilter();
      if (Object.keys(filter).length) body.filter = filter;
    }
    button.disabled = true;
    try {
      await act(d.action, body);
    } finally {
      button.disabled = false;
    }
  });

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  async function loadJobs(cursor) {
    if (!jobs) return;
    const filter = searchFilter();
    const params = new URLSearchParams({ queue: jobs.dataset.queue, limit: "25", ...filter });
    const byIndex = filter.workspaceId || filter.contactId;
    if (!byIndex) params.set("state", jobs.dataset.state);
    if (cursor) params.set("cursor", cursor);
    const answer = await fetch(`/api/admin/jobs?${params}`, { credentials: "same-origin" });
    const doc = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      note.textContent = doc.detail || `Search failed (${answer.status}).`;
      return;
    }
    const body = jobs.tBodies[0];
    body.replaceChildren();
    for (const job of doc.jobs) {
      const row = body.insertRow();
      const link = document.createElement("a");
      link.href = `${BASE}/job/${encodeURIComponent(job.id)}`;
      link.textContent = job.id;
      row.insertCell().append(link);
      cell(row, job.state);
      cell(row, job.type);
      cell(row, job.workspaceId || "—");
      cell(row, job.contactId || "—");
      cell(row, when(job.createdAt));
      cell(row, when(job.scheduledFor));
      cell(row, `${job.attempts} / ${job.maxAttempts}`, "num");
      cell(row, age(job.stateSince));
    }
    if (!doc.jobs.length) {
      const row = body.insertRow();
      const td = cell(row, Object.keys(filter).length ? "No job matches." : "No job in this state.");
      td.colSpan = 9;
    }
    pageCursor = cursor;
    nextCursor = doc.nextCursor;
    nextButton.disabled = !nextCursor;
    document.getElementById("jobs-title").textContent = Object.keys(filter).length
      ? `Search results (${doc.source}${byIndex ? ", every state" : `, ${jobs.dataset.state}`})`
      : `${jobs.dataset.state} jobs`;
    note.textContent = doc.search ? doc.search.note : "";
  }

  async function refresh() {
    if (gone) return;
    const answer = await fetch(location.href, { credentials: "same-origin", headers: { accept: "text/html" } });
    if (answer.status === 404) {
      gone = true;
      const head = document.getElementById("job-head");
      if (head) head.textContent = "This job no longer exists (removed, or cleaned by retention).";
      return;
    }
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    for (const region of document.querySelectorAll("[data-live]")) {
      const replacement = fresh.getElementById(region.id);
      if (replacement && !region.contains(document.activeElement)) region.replaceWith(replacement);
    }
    await loadJobs(pageCursor);
  }

  if (jobs) {
    searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      loadJobs("");
    });
    document.getElementById("search-clear").addEventListener("click", () => {
      searchForm.reset();
      loadJobs("");
    });
    nextButton.addEventListener("click", () => loadJobs(nextCursor));
    document.getElementById("first-page").addEventListener("click", () => loadJobs(""));
    const initial = new URLSearchParams(location.search);
    for (const name of ["workspaceId", "contactId", "q"]) {
      if (initial.get(name)) searchForm.elements[name].value = initial.get(name);
    }
    loadJobs("");
  }

  // Live: poll while the tab is visible; a hidden tab makes no request.
  function showLive() {
    liveStatus.textContent = document.hidden ? "paused (tab hidden)" : "live";
    liveStatus.classList.toggle("paused-live", document.hidden);
  }
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    showLive();
    if (!document.hidden) refresh();
  });
  showLive();
})();
