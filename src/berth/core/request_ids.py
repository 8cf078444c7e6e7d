"""The request id: one string per HTTP request or gRPC call, on every log line written for it.

A caller may send its own (``x-request-id``, at most `MAX_LENGTH` printable ASCII characters);
otherwise the server makes one. The id of the request being handled lives in a context variable:
each request runs in its own task, so the variable holds that request's id wherever its code
logs (work handed to thread pools does not see it).
"""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar
from typing import Final

MAX_LENGTH: Final = 128
HEADER: Final = "x-request-id"

REQUEST_ID: ContextVar[str] = ContextVar("berth_request_id", default="")
"""The id of the request this task handles ("" outside a request)."""


def current_request_id() -> str:
    return REQUEST_ID.get()


def acceptable(value: str) -> bool:
    """A caller's id is kept when it is 1..128 printable ASCII characters (no spaces: it goes into
    headers and log lines as it is)."""
    return 0 < len(value) <= MAX_LENGTH and value.isascii() and value.isprintable() and " " not in value


class RequestIds:
    """New request ids: a random prefix per process and a counter (unique without a syscall)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"

    def accept(self, sent: str | None) -> str:
        """The caller's id when acceptable, else a new one."""
        if sent is not None and acceptable(sent):
            return sent
        return self.new()
