"""The Lambda context object a handler receives as its second argument, built locally."""

from __future__ import annotations

import functools
import random
import uuid
from datetime import UTC, datetime
from time import monotonic
from typing import Any


@functools.cache
def _log_stream(function_name: str) -> str:
    """One stream per function per process, as Lambda has one per warm execution environment."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{random.getrandbits(128):032x}"


@functools.lru_cache(maxsize=256)
def _arn(region: str, account_id: str, function_name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"


class LambdaContext:
    """What Lambda's Python runtime passes as ``context``, for one invocation.

    ``timeout_s`` is the function's timeout in seconds; the countdown starts at construction.
    The request id is drawn when first read (most handlers never read it), then stays the same.
    """

    function_version = "$LATEST"
    #: Mobile-app fields; always ``None`` for API Gateway and EventBridge invocations.
    identity: Any = None
    client_context: Any = None

    def __init__(
        self,
        function_name: str,
        *,
        timeout_s: float,
        region: str,
        account_id: str,
        memory_mb: int = 512,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"A Lambda timeout is positive, not {timeout_s!r} seconds.")
        self._deadline = monotonic() + timeout_s
        self.function_name = function_name
        self.invoked_function_arn = _arn(region, account_id, function_name)
        self.memory_limit_in_mb = memory_mb
        self.log_group_name = "/aws/lambda/" + function_name
        self.log_stream_name = _log_stream(function_name)

    @functools.cached_property
    def aws_request_id(self) -> str:
        """A UUID 4, as Lambda's; an emulated id needs no secrecy: the fast generator, not a
        system call."""
        return str(uuid.UUID(int=random.getrandbits(128), version=4))

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out; never below 0."""
        return max(0, int((self._deadline - monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext({self.function_name!r}, aws_request_id={self.aws_request_id!r})"
