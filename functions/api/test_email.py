"""GET /test-email: the seed's HTML form to schedule a test email (admin basic auth).

The page holds no secret: the form asks for the API key and posts to /api/schedule-email.
"""

from __future__ import annotations

import html
import secrets
from typing import Any

from shared.http import Request, Response, http_handler

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test email — Queue Services</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="{nonce}">
 body {{ font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }}
 label {{ display: block; margin-top: .8rem; font-weight: 600; }}
 input, textarea {{ width: 100%; box-sizing: border-box; padding: .4rem; font: inherit; }}
 button {{ margin-top: 1rem; padding: .5rem 1.2rem; font: inherit; }}
 pre {{ background: #f4f4f4; padding: .8rem; white-space: pre-wrap; }}
</style></head>
<body>
<h1>Schedule a test email</h1>
<form id="f">
 <label for="apiKey">API key</label><input id="apiKey" type="password" required autocomplete="off">
 <label for="to">Recipient email</label><input id="to" type="email" required>
 <label for="subject">Subject</label><input id="subject" required value="Test email">
 <label for="html">Email content (HTML)</label>
 <textarea id="html" rows="5" required>&lt;p&gt;Hello from Queue Services&lt;/p&gt;</textarea>
 <label for="contactId">Contact ID</label><input id="contactId" required>
 <label for="workspaceId">Workspace ID</label><input id="workspaceId" required>
 <label for="delay">Delay (ms, 0 for immediate)</label>
 <input id="delay" type="number" min="0" value="0">
 <button type="submit">Schedule Email</button>
</form>
<h2>Response</h2><pre id="out">—</pre>
<script nonce="{nonce}">
document.getElementById("f").addEventListener("submit", async (e) => {{
  e.preventDefault();
  const v = (id) => document.getElementById(id).value;
  const body = {{to: v("to"), subject: v("subject"), html: v("html"), contactId: v("contactId"),
                workspaceId: v("workspaceId"), delay: Number(v("delay") || 0)}};
  const out = document.getElementById("out");
  try {{
    const r = await fetch("{action}", {{method: "POST", body: JSON.stringify(body),
      headers: {{"content-type": "application/json", "authorization": "Bearer " + v("apiKey")}}}});
    out.textContent = r.status + "\\n" + JSON.stringify(await r.json(), null, 2);
  }} catch (err) {{ out.textContent = String(err); }}
}});
</script>
</body></html>
"""


@http_handler(auth="admin")
def handler(request: Request[Any]) -> Response:
    nonce = secrets.token_urlsafe(16)
    page = PAGE.format(nonce=nonce, action=html.escape("/api/schedule-email"))
    return Response(
        page,
        content_type="text/html; charset=utf-8",
        headers={
            "content-security-policy": (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
            ),
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )
