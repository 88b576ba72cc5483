"""The callback transports ``bench.transport_ab`` compares, and its two child processes.

Each transport is a pool with ``post(url, body, headers, timeout) -> RawResponse`` and
``close()``, the interface ``shared.delivery.callbacks.CallbackClient`` uses:

- ``ours``: :class:`shared.delivery.transport.KeepAliveTransport` and its ``post`` hot path;
- ``ours-httpx``: the same transport under ``httpx.Client`` (how ``shared.delivery.app_api``
  uses it): httpx's request and response models over our connections;
- ``httpx``: ``httpx.Client()`` with its default transport (httpcore + h11);
- ``urllib3``: ``urllib3.PoolManager`` (one pool per origin, as callback URLs need);
- ``urllib3-pool``: one ``urllib3.HTTPConnectionPool`` for the receiver's origin (no URL
  routing: the least a library can do per request; not a drop-in for many origins).

The library pools keep up to ``MAX_IDLE`` idle connections per origin, as ours does, and are
told not to retry. They read the whole body (the receiver answers 11 bytes); ours reads at most
``max_body_bytes``. Each calls ``shared.jobs.send_gate.before_write`` as ours does.

Children (``python -m bench.transports ...``):

- ``send URL VARIANT N THREADS``: post N signed seed SMS callbacks (``CallbackClient``'s
  request: ``encode_payload`` + ``webhook_headers`` with a ``WEBHOOK_SECRET``) from THREADS
  threads after a warm-up of 4 per thread; prints ``{"seconds": s, "cpu_s": s, "errors": n}``,
  the wall and process CPU time (user + system, all threads) of the timed part. VARIANT
  ``sign`` builds and signs the requests without sending them.
- ``worker VARIANT QS_WORKER_ARGS...``: ``qs worker`` whose callbacks go through VARIANT's pool
  (the name ``KeepAliveTransport`` in ``shared.delivery.callbacks`` is bound to it before the
  worker processes fork; unguarded pools only, as the bench's SMS callbacks are).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from shared.delivery.transport import MAX_IDLE_PER_ORIGIN, KeepAliveTransport, RawResponse
from shared.jobs.send_gate import before_write

#: Idle connections kept per origin by the library pools (ours' default).
MAX_IDLE = MAX_IDLE_PER_ORIGIN
#: Variants in the order the bench runs them in its first round.
VARIANTS = ("ours", "ours-httpx", "httpx", "urllib3", "urllib3-pool")
#: The libraries the decision compares ours against (the drop-in replacements).
LIBRARIES = ("httpx", "urllib3")
#: Signs the bench's callbacks, as ``WEBHOOK_SECRET`` does in production.
BENCH_SECRET = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQtMzItYnl0ZXM="
#: Callbacks each thread sends before the timed part (connections opened, code warm).
WARMUP_PER_THREAD = 4


class HttpxPool:
    """``httpx.Client()`` with its default transport."""

    def __init__(self, *, max_body_bytes: int = 65_536, guard: bool = False) -> None:
        if guard:
            raise ValueError("the bench's library pools do not guard addresses")
        self.max_body = max_body_bytes
        limits = httpx.Limits(max_keepalive_connections=MAX_IDLE)
        self.client = httpx.Client(limits=limits)

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> RawResponse:
        before_write()
        response = self.client.post(url, content=body, headers=headers, timeout=timeout)
        return RawResponse(
            response.status_code, dict(response.headers), response.content[: self.max_body]
        )

    def close(self) -> None:
        self.client.close()


class OursUnderHttpx(HttpxPool):
    """``httpx.Client(transport=KeepAliveTransport())``."""

    def __init__(self, *, max_body_bytes: int = 65_536, guard: bool = False) -> None:
        self.max_body = max_body_bytes
        transport = KeepAliveTransport(max_body_bytes=max_body_bytes, guard=guard)
        self.client = httpx.Client(transport=transport)


def _urllib3_timeout(timeout: httpx.Timeout) -> Any:
    import urllib3

    return urllib3.Timeout(connect=timeout.connect, read=timeout.read)


class Urllib3Pool:
    """``urllib3.PoolManager``: a connection pool per origin, looked up from each URL."""

    def __init__(self, *, max_body_bytes: int = 65_536, guard: bool = False) -> None:
        import urllib3

        if guard:
            raise ValueError("the bench's library pools do not guard addresses")
        self.max_body = max_body_bytes
        self.manager = urllib3.PoolManager(maxsize=MAX_IDLE, retries=False)

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> RawResponse:
        before_write()
        response = self.manager.request(
            "POST", url, body=body, headers=dict(headers), timeout=_urllib3_timeout(timeout)
        )
        return RawResponse(response.status, dict(response.headers), response.data[: self.max_body])

    def close(self) -> None:
        self.manager.clear()


class Urllib3OriginPool:
    """One ``urllib3.HTTPConnectionPool``, for the origin of the first URL it is given."""

    def __init__(self, *, max_body_bytes: int = 65_536, guard: bool = False) -> None:
        if guard:
            raise ValueError("the bench's library pools do not guard addresses")
        self.max_body = max_body_bytes
        self.pool: Any = None
        self.lock = threading.Lock()

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> RawResponse:
        import urllib3

        parsed = urllib3.util.parse_url(url)
        if self.pool is None:
            with self.lock:
                if self.pool is None:
                    self.pool = urllib3.HTTPConnectionPool(
                        parsed.host or "", parsed.port, maxsize=MAX_IDLE, retries=False
                    )
        before_write()
        response = self.pool.urlopen(
            "POST", parsed.request_uri, body=body, headers=dict(headers),
            timeout=_urllib3_timeout(timeout),
        )  # fmt: skip
        return RawResponse(response.status, dict(response.headers), response.data[: self.max_body])

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


#: variant -> the pool class, built as ``CallbackClient`` builds ours.
POOLS: dict[str, Callable[..., Any]] = {
    "ours": KeepAliveTransport,
    "ours-httpx": OursUnderHttpx,
    "httpx": HttpxPool,
    "urllib3": Urllib3Pool,
    "urllib3-pool": Urllib3OriginPool,
}


def send(url: str, variant: str, n: int, threads: int) -> dict[str, float]:
    """Post ``n`` signed seed SMS callbacks to ``url`` from ``threads`` threads (``n`` rounded
    down to a multiple of ``threads``); the timed part's wall and CPU seconds and errors."""
    from bench.common import SEED_SMS
    from shared.delivery.callbacks import MAX_RESPONSE_BYTES, current_timeout, encode_payload
    from shared.delivery.signing import webhook_headers
    from shared.settings import settings

    settings.webhook_secret = BENCH_SECRET
    timeout = current_timeout()
    pool = POOLS[variant](max_body_bytes=MAX_RESPONSE_BYTES) if variant != "sign" else None
    errors = [0]

    def one(job_id: str) -> None:
        body = encode_payload({**SEED_SMS, "delay": 0, "jobId": job_id})
        headers = webhook_headers(job_id, body)
        if pool is not None and pool.post(url, body, headers, timeout).status_code != 200:
            errors[0] += 1

    def run(thread: int, count: int, tag: str) -> None:
        for i in range(count):
            one(f"{tag}-{thread}-{i}")

    def in_threads(count: int, tag: str) -> None:
        workers = [
            threading.Thread(target=run, args=(k, count, tag), name=f"sender-{k}")
            for k in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    in_threads(WARMUP_PER_THREAD, "warmup")
    errors[0] = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    in_threads(n // threads, "bench")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if pool is not None:
        pool.close()
    return {"seconds": wall, "cpu_s": cpu, "errors": errors[0]}


def use_pool(variant: str) -> None:
    """Make every ``CallbackClient`` built from now on in this process (and in processes it
    forks) post through ``variant``'s pool."""
    from shared.delivery import callbacks

    callbacks.KeepAliveTransport = POOLS[variant]  # type: ignore[assignment,misc]


def worker(variant: str, qs_args: list[str]) -> int:
    """``qs worker QS_ARGS`` with ``variant``'s pool under every ``CallbackClient``."""
    from local import cli

    use_pool(variant)
    return cli.main(["worker", *qs_args])


def main(argv: list[str]) -> int:
    if argv[:1] == ["send"] and len(argv) == 5:
        print(json.dumps(send(argv[1], argv[2], int(argv[3]), int(argv[4]))), flush=True)
        return 0
    if argv[:1] == ["worker"] and len(argv) >= 2:
        return worker(argv[1], argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
