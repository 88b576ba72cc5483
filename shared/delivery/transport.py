"""A lean HTTP/1.1 keep-alive transport for httpx, for the callback hot path.

It writes each request with one ``sendall`` and parses the response by hand: status line,
headers, then a ``Content-Length``, chunked or read-until-close body. Everything else stays
httpx's: the client API, headers, timeouts and error classes.

Kept because it earns its place (issue 15's rule: >= 20 % over the best library in the same
run; ``python -m bench --only transport_ab``, three full runs on 2026-12-02, the last after
group commit landed, 2 shared cores, 5 interleaved rounds each; run medians, per-round range).
Workers draining 10,000 queued SMS (``qs worker -p 2 -t 4``): 4,557, 3,554 and 3,713
callbacks/s against 2,470, 2,185 and 2,236 with urllib3's ``PoolManager`` (the best library;
httpx's default transport: 1,805, 1,254 and 1,445), +100 %, +81 % and +49 % (single rounds
+24 to +142 %); 179-216 µs of worker CPU per job against 453-486 (urllib3) and 679-702
(httpx). ``post`` alone, 8 threads: 44-95 µs of CPU per signed callback against 211-233
(urllib3) and 495-702 (httpx), +261 to +318 % in callbacks/s.

Framing is read strictly, because a connection misread goes back to the pool and corrupts the
next, unrelated request: a ``Content-Length`` that is not one non-negative decimal number
(negative, signed, non-digit, conflicting repeats, more than 18 digits), a chunk size that is
not plain hex, a chunk without its CRLF, a status code that is not three digits or a folded or
nameless header line raises ``httpx.RemoteProtocolError`` and closes the connection. A
response with both ``Transfer-Encoding`` and ``Content-Length`` is read as chunked and its
connection closed (RFC 9112, 6.3); so is one followed by bytes nobody asked for.

:meth:`KeepAliveTransport.post` is the callback hot path: it builds the request bytes itself
and returns a :class:`RawResponse`, without httpx's ``Request``/``Response``/``Headers`` models,
which cost most of a worker's CPU per callback (786 -> 211 µs per callback in a one-thread
profile). Through ``httpx.Client(transport=...)`` the same pool serves any other request.

Deliberately small: HTTP/1.1 only, no proxies, no ``Expect: 100-continue``, no request body
streaming. An idle connection is reused only while it is younger than ``keepalive_expiry``
and the peer has not closed it. If the peer closes it just as it is reused (reset, or EOF
before any byte of answer), the request is sent once more on a fresh connection, as other
clients do for such races; any other failure is the caller's to retry.

Each read of an answer first calls :func:`shared.jobs.overlap.wait_readable`, so a worker
thread running a chunk's callbacks side by side waits for all their answers at once. A
plain-http socket is blocking with its timeouts in the kernel (``KERNEL_TIMEOUTS``).

With ``guard=True`` the transport resolves each host itself through
:func:`shared.delivery.netguard.resolve_checked` and connects to exactly the checked addresses
(TLS still verifies the host name): a refused address raises
:class:`shared.delivery.netguard.BlockedAddress` before any packet is sent to it.
"""

from __future__ import annotations

import contextlib
import functools
import select
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from shared.delivery.netguard import BlockedAddress, resolve_checked
from shared.jobs.overlap import wait_readable
from shared.jobs.send_gate import before_write

#: Largest response head (status line + headers) accepted, in bytes.
MAX_HEAD_BYTES = 65_536
#: Idle connections kept per origin: a worker process's threads (``WORKER_THREADS``, 8) each
#: with a chunk of 20 callbacks in flight (``shared.jobs.overlap``) reuse theirs, with room.
MAX_IDLE_PER_ORIGIN = 256
#: Bytes asked of the socket per read.
READ_CHUNK = 65_536
#: Most digits of a ``Content-Length`` (below 2**63) or hex digits of a chunk size accepted.
MAX_LENGTH_DIGITS = 18
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")

Origin = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A response read by :meth:`KeepAliveTransport.post`."""

    status_code: int
    headers: dict[str, str]  #: lower-case names; a repeated header keeps its last value
    content: bytes  #: the body, cut at the transport's ``max_body_bytes``


@functools.lru_cache(maxsize=1024)
def _parse_target(url: str) -> tuple[Origin, bytes, bytes]:
    """(origin, request target, ``Host`` value) of an absolute http(s) URL; raises
    ``httpx.InvalidURL`` or ``httpx.UnsupportedProtocol`` as httpx would."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {parsed.scheme!r}")
    if not parsed.host:
        raise httpx.InvalidURL(f"no host in URL {url!r}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return (parsed.scheme, parsed.host, port), parsed.raw_path, parsed.netloc


class _Stale(Exception):
    """A reused idle connection turned out closed before any answer arrived."""


#: Whether a plain-http socket's timeouts are the kernel's (``SO_SNDTIMEO``/``SO_RCVTIMEO`` on a
#: blocking socket; Linux's ``struct timeval`` layout). Python puts a ``poll`` before every send
#: and read of a socket with a timeout; the kernel's make each one system call, and one release
#: of the GIL where the workers' threads contend for it. Not for TLS: on a blocking socket
#: Python's ``ssl`` retries a read the kernel timed out, forever.
KERNEL_TIMEOUTS = sys.platform == "linux"


def _timeval(seconds: float | None) -> bytes:
    """``seconds`` as a ``struct timeval`` (None, no limit: zero; at least 1 µs otherwise)."""
    if seconds is None:
        return struct.pack("@ll", 0, 0)
    micros = max(1, round(seconds * 1_000_000))
    return struct.pack("@ll", *divmod(micros, 1_000_000))


#: What a send or read raises when its kernel timeout expires (EAGAIN on a blocking socket).
_TIMED_OUT = (TimeoutError, BlockingIOError)


class _Connection:
    """One socket and the bytes read from it but not yet consumed."""

    __slots__ = (
        "buffer", "idle_since", "kernel_timeouts", "read_s", "received", "sock", "timeouts",
    )  # fmt: skip

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.idle_since = 0.0
        self.received = 0  #: bytes read for the current request
        self.kernel_timeouts = KERNEL_TIMEOUTS and not isinstance(sock, ssl.SSLSocket)
        self.timeouts: tuple[float | None, float | None] | None = None  #: the kernel's now
        self.read_s: float | None = None  #: seconds each read of the answer may wait
        if self.kernel_timeouts:
            sock.settimeout(None)  # blocking: the kernel times each send and read out

    def before_write(self, write_s: float | None, read_s: float | None) -> None:
        """Arm the timeouts (seconds, None: none) of the request's send and of each read of
        its answer: in the kernel, once per connection while they stay the same; else
        Python's, for the send (``before_read`` then sets the read's)."""
        if not self.kernel_timeouts:
            self.sock.settimeout(write_s)
        elif self.timeouts != (write_s, read_s):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(write_s))
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(read_s))
            self.timeouts = (write_s, read_s)

    def before_read(self, read_s: float | None) -> None:
        """Arm the read timeout, where Python keeps it (see ``before_write``)."""
        self.read_s = read_s
        if not self.kernel_timeouts:
            self.sock.settimeout(read_s)

    def recv(self) -> bytes:
        """The next bytes the peer sent (b"": EOF); inside ``run_overlapped`` the chunk's other
        calls run while this one waits for them."""
        if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            wait_readable(self.sock, self.read_s)
        return self.sock.recv(READ_CHUNK)

    def fill(self) -> None:
        """Read more bytes; EOF is a protocol error (the response is incomplete)."""
        chunk = self.recv()
        if not chunk:
            raise httpx.RemoteProtocolError("the server closed the connection mid-response")
        self.received += len(chunk)
        self.buffer += chunk

    def read_until(self, marker: bytes, limit: int) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            if len(self.buffer) > limit:
                raise httpx.RemoteProtocolError(f"no {marker!r} within {limit} bytes")
            self.fill()
        data = bytes(self.buffer[:end])
        del self.buffer[: end + len(marker)]
        return data

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def peer_closed(self) -> bool:
        """True when the idle socket is readable: the peer closed it (or sent stray bytes).

        ``poll`` (or ``selectors`` where there is none), not ``select``: file descriptors
        of 1024 and above are common in a busy worker and ``select`` refuses them.
        """
        try:
            return _readable(self.sock)
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _readable(sock: socket.socket) -> bool:
    """Whether ``sock`` has something to read (data, EOF or an error) right now."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    with selectors.DefaultSelector() as selector:  # pragma: no cover - platforms without poll
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(0))


def _content_length(values: list[bytes]) -> int:
    """The one length that every ``Content-Length`` field (and list member) states.

    Raises ``httpx.RemoteProtocolError`` for anything else: empty, signed, non-digit,
    longer than :data:`MAX_LENGTH_DIGITS` or conflicting values.
    """
    lengths = {part.strip() for value in values for part in value.split(b",")}
    if len(lengths) != 1:
        raise httpx.RemoteProtocolError(f"conflicting Content-Length values {sorted(lengths)!r}")
    (length,) = lengths
    if not (length.isdigit() and len(length) <= MAX_LENGTH_DIGITS):
        raise httpx.RemoteProtocolError(f"malformed Content-Length {length[:40]!r}")
    return int(length)


def _chunk_size(line: bytes) -> int:
    """The size in a chunk-size line (``1a;ext=x``); ``httpx.RemoteProtocolError`` unless it
    is 1-18 plain hex digits."""
    size = line.split(b";", 1)[0].strip(b" \t")
    if not (0 < len(size) <= MAX_LENGTH_DIGITS and _HEX_DIGITS.issuperset(size)):
        raise httpx.RemoteProtocolError(f"malformed chunk size {line[:40]!r}")
    return int(size, 16)


def _open_checked(host: str, port: int, timeout: float | None) -> socket.socket:
    """A socket connected to the first reachable address of ``host`` that the guard allows."""
    error: OSError | None = None
    for family, sockaddr in resolve_checked(host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"no address found for {host!r}")


class KeepAliveTransport(httpx.BaseTransport):
    """Pooled HTTP/1.1 connections per origin; thread-safe; ``max_body_bytes`` read at most."""

    def __init__(
        self,
        *,
        max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
        keepalive_expiry_s: float = 4.0,
        max_body_bytes: int = 65_536,
        ssl_context: ssl.SSLContext | None = None,
        guard: bool = False,
    ) -> None:
        self.max_idle = max_idle_per_origin
        self.expiry_s = keepalive_expiry_s
        self.max_body = max_body_bytes
        #: made on the first https connection: loading the CA store takes 10-100 ms of CPU,
        #: which a pool of plain-http callbacks (and a cold start) never needs
        self._ssl_context = ssl_context
        self.guard = guard  #: connect only to addresses ``resolve_checked`` allows
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of https connections (the system's defaults unless one was given)."""
        context = self._ssl_context
        if context is None:
            with self._lock:
                if self._ssl_context is None:
                    self._ssl_context = ssl.create_default_context()
                context = self._ssl_context
        return context

    # -- pool -----------------------------------------------------------------------------

    def _checkout(self, origin: Origin) -> _Connection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                conn = idle.pop() if idle else None
            if conn is None:
                return None
            if now - conn.idle_since < self.expiry_s and not conn.peer_closed():
                return conn
            conn.close()

    def _checkin(self, origin: Origin, conn: _Connection) -> None:
        if conn.buffer:  # bytes beyond the response: the next answer would be misread
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conn.received = 0
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.max_idle:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for idle in pools.values():
            for conn in idle:
                conn.close()

    # -- one request ----------------------------------------------------------------------

    def _connect(
        self, origin: Origin, timeout: dict[str, Any], request: httpx.Request | None
    ) -> _Connection:
        scheme, host, port = origin
        try:
            if self.guard:
                sock = _open_checked(host, port, timeout.get("connect"))
            else:
                sock = socket.create_connection((host, port), timeout=timeout.get("connect"))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self.ssl_context().wrap_socket(sock, server_hostname=host)
        except BlockedAddress as exc:
            if request is not None:
                exc.request = request
            raise
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect timed out: {exc}", request=request) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return _Connection(sock)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"unsupported URL scheme {url.scheme!r}", request=request
            )
        origin: Origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        body = request.read()
        head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in request.headers.raw]
        if body and "content-length" not in request.headers:
            head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"\r\n")
        timeout: dict[str, Any] = request.extensions.get("timeout", {})
        status, reason, headers, content = self._send(
            origin, b"".join(head) + body, request.method, timeout, request
        )
        return httpx.Response(
            status,
            headers=headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> RawResponse:
        """POST ``body`` with ``headers`` (plus ``Host``, ``Accept`` and ``Content-Length``)
        and read the answer; raises the httpx error a ``httpx.Client`` would."""
        origin, target, host = _parse_target(url)
        head = [b"POST ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\naccept: */*\r\n"]
        head.append(b"content-length: %d\r\n" % len(body))
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n".encode())
        head.append(b"\r\n")
        status, _, fields, content = self._send(
            origin, b"".join(head) + body, "POST", timeout.as_dict(), None
        )
        names = {name.decode("latin-1"): value.decode("latin-1") for name, value in fields}
        return RawResponse(status, names, content)

    def _send(
        self,
        origin: Origin,
        payload: bytes,
        method: str,
        timeout: dict[str, Any],
        request: httpx.Request | None,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        """Send ``payload`` on an idle connection, or a fresh one when the idle one was
        closed as it was reused; (status, reason, headers, body)."""
        idle = self._checkout(origin)
        if idle is not None:
            try:
                return self._exchange(origin, idle, payload, method, request, timeout, reused=True)
            except _Stale:
                pass  # the server closed this idle connection as we reused it: once more, fresh
        conn = self._connect(origin, timeout, request)
        return self._exchange(origin, conn, payload, method, request, timeout, reused=False)

    def _exchange(
        self,
        origin: Origin,
        conn: _Connection,
        payload: bytes,
        method: str,
        request: httpx.Request | None,
        timeout: dict[str, Any],
        *,
        reused: bool,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        """Send ``payload`` and read the answer; on a reused connection that the peer had
        already closed (reset or EOF before any byte of answer) raise ``_Stale``."""
        before_write()  # a rate-limited job takes its slot now, as its request goes out
        try:
            conn.before_write(timeout.get("write"), timeout.get("read"))
            conn.sock.sendall(payload)
        except _TIMED_OUT as exc:
            conn.close()
            raise httpx.WriteTimeout(f"write timed out: {exc}", request=request) from exc
        except OSError as exc:
            conn.close()
            if reused:
                raise _Stale from exc
            raise httpx.WriteError(str(exc), request=request) from exc
        try:
            conn.before_read(timeout.get("read"))
            status, reason, headers, content, reusable = self._read_response(conn, method)
        except _TIMED_OUT as exc:
            conn.close()
            raise httpx.ReadTimeout(f"read timed out: {exc}", request=request) from exc
        except (httpx.RemoteProtocolError, OSError, ValueError) as exc:
            conn.close()
            if (
                reused
                and conn.received == 0
                and isinstance(exc, httpx.RemoteProtocolError | ConnectionError)
            ):
                raise _Stale from exc
            if isinstance(exc, httpx.RemoteProtocolError):
                raise
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
        if reusable:
            self._checkin(origin, conn)
        else:
            conn.close()
        return status, reason, headers, content

    def _read_response(
        self, conn: _Connection, method: str
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
        """(status, reason, headers, body up to ``max_body``, whether to reuse the connection)."""
        while True:
            status_line, *lines = conn.read_until(b"\r\n\r\n", MAX_HEAD_BYTES).split(b"\r\n")
            version, _, rest = status_line.partition(b" ")
            code, _, reason = rest.partition(b" ")
            if not version.startswith(b"HTTP/1.") or not (code.isdigit() and len(code) == 3):
                raise httpx.RemoteProtocolError(f"malformed status line {status_line[:80]!r}")
            status = int(code)
            if status >= 200 or status == 101:
                break  # 1xx interim answers are skipped
        headers: list[tuple[bytes, bytes]] = []
        fields: dict[bytes, list[bytes]] = {}
        for line in lines:
            name, sep, value = line.partition(b":")
            if not sep or not name or b" " in name or b"\t" in name:  # folded or spaced
                raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
            name, value = name.lower(), value.strip()
            headers.append((name, value))
            fields.setdefault(name, []).append(value)
        connection = b",".join(fields.get(b"connection", [])).lower()
        reusable = b"close" not in connection and (
            version == b"HTTP/1.1" or b"keep-alive" in connection
        )
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, reason, headers, b"", reusable
        if b"transfer-encoding" in fields:
            codings = b",".join(fields[b"transfer-encoding"]).lower().split(b",")
            if codings[-1].strip() != b"chunked":  # framed by the close (RFC 9112, 6.3)
                return status, reason, headers, self._read_capped(conn, self.max_body), False
            content, complete = self._read_chunked(conn)
            reusable = reusable and complete and b"content-length" not in fields
            return status, reason, headers, content, reusable
        if b"content-length" in fields:
            length = _content_length(fields[b"content-length"])
            if length > self.max_body:  # keep the head of it; drop the connection
                return status, reason, headers, self._read_capped(conn, self.max_body), False
            return status, reason, headers, conn.read_exact(length), reusable
        return status, reason, headers, self._read_capped(conn, self.max_body), False

    def _read_chunked(self, conn: _Connection) -> tuple[bytes, bool]:
        """A chunked body up to ``max_body``; False when it was cut short there."""
        parts: list[bytes] = []
        size = 0
        while True:
            chunk_size = _chunk_size(conn.read_until(b"\r\n", 1024))
            if chunk_size == 0:
                while conn.read_until(b"\r\n", MAX_HEAD_BYTES):  # trailers, up to a blank line
                    pass
                return b"".join(parts), True
            if size + chunk_size > self.max_body:
                return b"".join(parts), False
            parts.append(conn.read_exact(chunk_size))
            size += chunk_size
            if conn.read_exact(2) != b"\r\n":
                raise httpx.RemoteProtocolError("a chunk is not followed by CRLF")

    @staticmethod
    def _read_capped(conn: _Connection, limit: int) -> bytes:
        """Bytes until the peer closes or ``limit`` is reached."""
        while len(conn.buffer) < limit:
            chunk = conn.recv()
            if not chunk:
                break
            conn.buffer += chunk
        return bytes(conn.buffer[:limit])
