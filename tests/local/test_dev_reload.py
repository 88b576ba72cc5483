"""``qs dev``'s hot reload, in a copy of the project: ``serverless.yml`` and ``.env`` edited by
append, rewrite and ``sed -i`` (each timed to a 200), broken ones kept out, no request lost."""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.local.dev_process import DevProcess, alias, seconds_to_200, settled


def test_serverless_yml_edits_reload_to_a_200_fast_and_a_broken_one_keeps_the_last_good(
    project: Path, project_dev: DevProcess
):
    dev, manifest = project_dev, project / "serverless.yml"
    dev.wait_for("healthy /api/health", dev.healthy, timeout_s=30)
    inode = manifest.stat().st_ino

    def sed_in_place(name: str) -> None:  # sed -i writes a new file and renames it over the old
        entry = alias(name).replace("\n", "\\n")
        subprocess.run(
            ["sed", "-i", f"s|^functions:$|functions:\\n{entry}|", str(manifest)], check=True
        )

    def append(name: str) -> None:
        with manifest.open("a") as file:
            file.write(alias(name))

    figures = [seconds_to_200(dev, "/api/alias-sed", lambda: sed_in_place("alias-sed"))]
    # checked right after the first sed: a later one may be given the freed first inode number
    assert manifest.stat().st_ino != inode  # the watch followed the new inode
    figures += [
        seconds_to_200(dev, "/api/alias-appended", lambda: append("alias-appended")),
        seconds_to_200(dev, "/api/alias-sed-again", lambda: sed_in_place("alias-sed-again")),
    ]
    print(f"edit of serverless.yml to a 200: {', '.join(f'{s:.2f}' for s in figures)} s")
    reported = re.findall(r"reloaded: gateway serving after ([\d.]+) s", dev.output())
    print(f"qs dev's own figures, change seen to gateway serving: {', '.join(reported)} s")
    assert statistics.median(figures) < 3.0  # ~0.3 s idle; generous for a loaded 2-core box

    # edits in quick succession: each is served without waiting for the workers of the last
    burst = [
        seconds_to_200(dev, f"/api/burst-{i}", lambda i=i: append(f"burst-{i}"), settle=False)
        for i in range(3)
    ]
    print(f"edits in a burst, each to a 200: {', '.join(f'{s:.2f}' for s in burst)} s")
    assert max(burst) < 3.0
    dev.wait_for("workers of the last edit", lambda: settled(dev), 30)

    good = manifest.read_text()
    dev.wait_for("the last reload done", lambda: settled(dev), 30)
    manifest.write_text(good + "  broken:\n    events: [\n")  # a YAML syntax error
    dev.wait_for("the report", lambda: "serverless.yml is invalid" in dev.output(), 10)
    assert "the running version keeps serving" in dev.output()
    assert dev.status("/api/alias-appended") == 200
    manifest.write_text(good + "  no-handler:\n    events: []\n")  # valid YAML, not a manifest
    dev.wait_for("the report", lambda: "'no-handler' has no handler" in dev.output(), 10)
    assert dev.status("/api/alias-sed") == 200

    seconds_to_200(
        dev, "/api/alias-fixed", lambda: manifest.write_text(good + alias("alias-fixed"))
    )


def test_env_edits_reload_after_create_append_and_sed_and_a_broken_env_keeps_the_last_good(
    project: Path, project_dev: DevProcess
):
    dev, dotenv = project_dev, project / ".env"
    dev.wait_for("healthy /api/health", dev.healthy, timeout_s=30)
    probe = "/api/job-status/no-such-job"  # 404 for a valid key, 401 for any other

    def accepted(key: str) -> Callable[[], bool]:
        return lambda: dev.status(probe, authorization=f"Bearer {key}") == 404

    dev_key = dev.key()
    assert accepted(dev_key)() and not accepted("k1")()
    dotenv.write_text("API_KEYS=k1\n")  # a .env that did not exist when qs dev started
    dev.wait_for("k1 accepted", accepted("k1"), 15)
    # the made-up key is gone with API_KEYS set (once the old gateway has stopped accepting)
    dev.wait_for("the dev key refused", lambda: not accepted(dev_key)(), 5)
    with dotenv.open("a") as file:
        file.write("SERVICE_TOKEN=token-2\n")
    dev.wait_for("the appended token accepted", accepted("token-2"), 15)
    inode = dotenv.stat().st_ino
    subprocess.run(["sed", "-i", "s/^API_KEYS=k1$/API_KEYS=k3/", str(dotenv)], check=True)
    dev.wait_for("k3 accepted after sed -i", accepted("k3"), 15)
    assert dotenv.stat().st_ino != inode
    dev.wait_for("k1 refused", lambda: not accepted("k1")(), 5)

    with dotenv.open("a") as file:
        file.write("APP_ENV=staging\n")  # not dev or production
    dev.wait_for("the report", lambda: ".env is invalid" in dev.output(), 10)
    assert "app_env" in dev.output().lower() and accepted("k3")()
    subprocess.run(["sed", "-i", "/^APP_ENV=/d", str(dotenv)], check=True)
    with dotenv.open("a") as file:
        file.write("API_KEYS=k4\n")  # the later line wins, as in any dotenv reader
    dev.wait_for("k4 accepted", accepted("k4"), 15)


def test_no_request_fails_while_the_gateway_is_replaced(project: Path, project_dev: DevProcess):
    dev = project_dev
    dev.wait_for("qs dev up", lambda: settled(dev), timeout_s=30)
    answers: list[int | str] = []
    done = threading.Event()

    def hammer() -> None:  # a new connection per request, as a browser's refresh would
        while not done.is_set():
            try:
                answers.append(httpx.get(f"{dev.url}/api/health", timeout=10).status_code)
            except httpx.HTTPError as exc:
                answers.append(repr(exc))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for i in range(3):
            reloads = dev.output().count("reloaded: ")
            os.utime(project / "functions" / "api" / "health.py")
            dev.wait_for(f"reload {i}", lambda n=reloads: dev.output().count("reloaded: ") > n, 15)
    finally:
        done.set()
        thread.join()
    assert dev.output().count("Started server process") >= 4  # the gateway was replaced 3 times
    assert len(answers) > 10 and set(answers) == {200}, [a for a in answers if a != 200]


def test_a_connection_the_old_gateway_accepted_is_still_served_after_the_handover(
    project: Path, project_dev: DevProcess
):
    dev = project_dev
    dev.wait_for("qs dev up", lambda: settled(dev), timeout_s=30)
    port = int(dev.url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port)) as idle:  # accepted, no request yet
        assert dev.healthy()  # the only gateway serves, so it has accepted `idle` by now
        handovers = dev.output().count("Handing over to the next gateway")
        os.utime(project / "functions" / "api" / "health.py")
        dev.wait_for(
            "the old gateway handing over",
            lambda: dev.output().count("Handing over to the next gateway") > handovers,
            15,
        )
        idle.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        idle.settimeout(10)
        answer = b""
        while chunk := idle.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
