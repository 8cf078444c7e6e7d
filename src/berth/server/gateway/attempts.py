"""The rounds of candidates a gateway request tries: what the directory has, then, when that view
is known to be stale, what the registry says now.

A view is known stale when a replica was marked down or lacking a name after the last refresh
started: a replica that let a moved model go did so only once a replica of the new group reported
it ready, so a fresh read finds that one. Requests that need a fresh read at the same time share one
(`refresh_since`), and a name no replica serves costs no read beyond the poll's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Final

from berth.core.errors import BerthError, ErrorCode
from berth.server.gateway.directory import GroupDirectory

UNSERVED: Final = frozenset({ErrorCode.MODEL_NOT_FOUND, ErrorCode.NO_SERVING_REPLICA})
"""The gateway's own answers for a name no live replica serves. They name the model (and its group),
so they go only to a caller a replica authenticated: the name is first sent to any live replica,
which answers an anonymous caller 401 and a caller of another team as for a missing name."""


class CandidateRounds:
    def __init__(self, directory: GroupDirectory) -> None:
        self._directory = directory
        self._refreshing = asyncio.Lock()

    async def rounds(self, name: str, pick: Callable[[str], list[str]]) -> AsyncGenerator[list[str], None]:
        """Candidates for `name` (`pick` reads them off the directory), at most two rounds: the
        caller tries each of a round and returns on an answer; a second round comes after a fresh
        read, only when the first round's view was stale. NO_SERVING_REPLICA when none is left."""
        for attempt in range(2):
            stale = self._directory.marked_at > self._directory.refreshed_at
            if attempt:
                if not stale:
                    break
                await self.refresh_since(self._directory.marked_at)
            try:
                candidates = pick(name)
            except BerthError as error:
                if attempt or error.code is not ErrorCode.NO_SERVING_REPLICA or not stale:
                    raise
                continue
            yield candidates
        raise BerthError(
            ErrorCode.NO_SERVING_REPLICA, f"no live replica accepted a request for {name!r}", model=name
        )

    async def refresh_since(self, moment: float) -> None:
        """Refresh the directory unless a refresh started after `moment`."""
        async with self._refreshing:
            if self._directory.refreshed_at <= moment:
                await asyncio.to_thread(self._directory.refresh)
