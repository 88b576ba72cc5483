"""Group commit: the job creations of one gateway process, written together.

While a create script call is in flight on a queue, the requests that arrive wait; when it
returns, all of them (up to ``GROUP_COMMIT_MAX_JOBS`` jobs) go to Redis in the next call, one
group per request (``create.lua``'s ``g:`` form). A lone request is written at once: the batch
is whatever arrived during the previous write, so an idle gateway adds no wait. Each request
keeps its own outcome: its own idempotency replay or conflict (a conflict fails only its
group), and an error of the call (Redis down, a time-out) fails only the requests of that
batch, each as its blocking call would have failed.

The writes go over an asynchronous connection, so the event loop never blocks on them; the
handlers stay synchronous (``handler(event, context)``) and reach the loop through
``shared.async_bridge``. :func:`create_many` is the entry point: from a bridged handler it
joins the process's group commit, anywhere else (Lambda, workers, tests) it is
``JobStore().create_many``. Requests that cannot share a call take the blocking path in a
thread: jobs spread over several sub-queues of a split queue, and every create under
``REDIS_WAIT_REPLICAS`` (its ``WAIT`` belongs to the connection that wrote).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from shared.async_bridge import await_, bridged
from shared.jobs.store import (
    Created,
    JobStore,
    NewJob,
    created_of_groups,
    routed_queue,
    shebang_in,
)
from shared.redis_client import async_redis
from shared.settings import settings


@dataclass
class _Request:
    """One request's jobs (routed) and the future its handler waits on."""

    jobs: list[NewJob]
    done: asyncio.Future[list[Created]]


class GroupCommit:
    """One event loop's group commit: per kept queue, a writer task while requests wait.

    ``client`` is an asynchronous Redis client bound to this loop; ``store`` builds the script
    calls (and takes the requests that cannot be batched, in a thread).
    """

    def __init__(self, client: Any, store: JobStore, *, max_jobs: int) -> None:
        self.client = client
        self.store = store
        self.max_jobs = max_jobs
        self.waiting: dict[str, deque[_Request]] = {}
        self.writers: set[str] = set()  #: queues with a writer task running
        self.calls = 0  #: script calls made (for tests and figures)
        self.shebang: bool | None = None  #: whether the server is Redis 7+, once asked

    async def create_many(self, jobs: list[NewJob]) -> list[Created]:
        """``JobStore.create_many(jobs)``, written with whatever other requests are waiting."""
        queue, routed = routed_queue(jobs)
        if queue is None or settings.redis_wait_replicas:
            return await asyncio.to_thread(self.store.create_many, jobs)
        request = _Request(routed, asyncio.get_running_loop().create_future())
        self.waiting.setdefault(queue, deque()).append(request)
        if queue not in self.writers:
            self.writers.add(queue)
            asyncio.get_running_loop().create_task(self._write_while_waiting(queue))
        return await request.done

    def _next_batch(self, queue: str) -> list[_Request]:
        """The waiting requests of ``queue`` next written: in arrival order, up to
        ``max_jobs`` jobs (at least one request, however large)."""
        waiting, size = self.waiting[queue], 0
        batch: list[_Request] = []
        while waiting and (not batch or size + len(waiting[0].jobs) <= self.max_jobs):
            request = waiting.popleft()
            batch.append(request)
            size += len(request.jobs)
        return batch

    async def _write_while_waiting(self, queue: str) -> None:
        try:
            while self.waiting.get(queue):
                batch = self._next_batch(queue)
                try:
                    outcomes = await self._write(queue, batch)
                except BaseException as exc:  # the batch's requests fail; later ones go on
                    for request in batch:
                        if not request.done.done():
                            request.done.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for request, created in zip(batch, outcomes, strict=True):
                    if not request.done.done():
                        request.done.set_result(created)
        finally:
            self.writers.discard(queue)

    async def _write(self, queue: str, batch: list[_Request]) -> list[list[Created]]:
        if self.shebang is None:
            self.shebang = shebang_in(await self.client.info("server"))
        groups = [request.jobs for request in batch]
        call = self.store.create_groups_call(queue, groups, shebang=self.shebang)
        self.calls += 1
        try:
            reply = await self.client.execute_command("EVALSHA", call.sha, 1, call.key, *call.args)
        except NoScriptError:  # a server that has not seen the script (or restarted)
            reply = await self.client.execute_command("EVAL", call.source, 1, call.key, *call.args)
        return created_of_groups(reply)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = (
    weakref.WeakKeyDictionary()
)


def for_running_loop() -> GroupCommit:
    """The running event loop's group commit (made at its first use, with its own client)."""
    loop = asyncio.get_running_loop()
    commit = _by_loop.get(loop)
    if commit is None:
        commit = GroupCommit(async_redis(), JobStore(), max_jobs=settings.group_commit_max_jobs)
        _by_loop[loop] = commit
    return commit


def create_many(jobs: list[NewJob]) -> list[Created]:
    """Store ``jobs`` as ``JobStore.create_many`` does (one queue's, all or none); from a
    handler the gateway runs bridged, through the group commit of its event loop."""
    if bridged():
        return await_(for_running_loop().create_many(jobs))
    return JobStore().create_many(jobs)
