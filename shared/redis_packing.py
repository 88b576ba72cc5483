"""Commands packed for Redis by one call of hiredis' C packer, on the service's own clients.

redis-py packs a command in Python before hiredis sees it: its blocking client runs
``Encoder.encode`` and two generator passes over every argument, its asyncio client one pass.
A job-store call carries many arguments (a worker's finish of a 20-job chunk 140, a bulk
create of 1,000 jobs 14,000): on 2026-12-06 py-spy put redis-py's packing at 10 % of a
worker's GIL time during a burst and 13 % of a gateway's during bulk creates (hiredis' own
share included), and a 144-argument command took 130 µs to pack here against 25 µs in one
call (the blocking client's way). hiredis packs ``str`` (UTF-8), ``bytes`` and ``int`` exactly
as redis-py does, so a command made only of those goes to it in one call; any other argument
(a ``bool`` or ``None``, which redis-py refuses with ``DataError``, a ``float``, a
``memoryview``) or a command name with a space in it (``CLIENT SETNAME``, which redis-py
splits) takes redis-py's own packer, errors and all.

Installed on a client's connection pool (``fast_packing``), for a single server and Sentinel,
blocking and asyncio. A Cluster client is left as it is: its nodes' connections are made from
options this module does not own.
"""

from __future__ import annotations

import functools
from typing import Any

from hiredis import pack_command
from redis.asyncio.connection import AbstractConnection as AsyncConnection

#: The argument types hiredis packs as redis-py does (exact types: ``bool`` is not ``int`` here).
_PLAIN = frozenset({str, bytes, int})


def packed(args: tuple[Any, ...]) -> list[bytes] | None:
    """``args`` (a command) as hiredis packs it, or None when redis-py must pack it."""
    name = args[0]
    if type(name) is str and " " not in name and _PLAIN.issuperset(map(type, args)):
        return [pack_command(args)]
    return None


class FastPacker:
    """A blocking connection's command packer: ``packed`` where it applies, else ``fallback``
    (the packer redis-py would have used)."""

    __slots__ = ("fallback",)

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback

    def pack(self, *args: Any) -> list[bytes]:
        return packed(args) or self.fallback.pack(*args)


class _BlockingFastPacking:
    """Mix-in for a blocking connection class: its packer is a ``FastPacker``."""

    def _construct_command_packer(self, packer: Any) -> Any:
        return FastPacker(super()._construct_command_packer(packer))  # type: ignore[misc]


class _AsyncFastPacking:
    """Mix-in for an asyncio connection class: ``pack_command`` by ``packed`` where it applies."""

    def pack_command(self, *args: Any) -> list[bytes]:
        return packed(args) or super().pack_command(*args)  # type: ignore[misc]


@functools.cache
def fast_class(connection_class: type[Any]) -> type[Any]:
    """``connection_class`` (plain, TLS, Unix socket or Sentinel-managed; blocking or asyncio)
    packing by ``packed``."""
    mixin: type[Any] = _BlockingFastPacking
    if issubclass(connection_class, AsyncConnection):
        mixin = _AsyncFastPacking
    return type(f"Fast{connection_class.__name__}", (mixin, connection_class), {})


def fast_packing(client: Any) -> Any:
    """``client`` (a ``redis.Redis`` or asyncio one, not a Cluster) whose new connections pack
    by ``packed``; call it before the client makes its first connection."""
    pool = client.connection_pool
    if not issubclass(pool.connection_class, (_BlockingFastPacking, _AsyncFastPacking)):
        pool.connection_class = fast_class(pool.connection_class)
    return client
