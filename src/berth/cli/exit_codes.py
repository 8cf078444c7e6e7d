"""What ``berth``'s exit status means: the one table from berth's error codes to exit statuses.

======  ==========================================================================================
status  meaning
======  ==========================================================================================
0       done
1       an error: bad input, a refused model file, a failed job... (``error [code]: message``)
2       usage: a missing or malformed argument or option (click's own status)
3       not found: a model, version, alias, endpoint, job, prediction id, job input, or no registry
4       refused: not authenticated, not allowed (a model of another team), rate-limited
5       unreachable or unavailable: no server at ``--url``, a model not ready, a timeout
6       conflict: something of that name already exists, a port already in use
130     interrupted (Ctrl-C) or a confirmation answered no
======  ==========================================================================================

Scripts can rely on these (docs/cli.md); a code not named below exits 1.
"""

from __future__ import annotations

from typing import Final

from berth.core.errors import ErrorCode

OK: Final = 0
ERROR: Final = 1
USAGE: Final = 2
NOT_FOUND: Final = 3
REFUSED: Final = 4
UNAVAILABLE: Final = 5
CONFLICT: Final = 6
INTERRUPTED: Final = 130

EXIT_STATUS: Final[dict[ErrorCode, int]] = {
    **{code: NOT_FOUND for code in ErrorCode if code.value.endswith("_not_found")},
    ErrorCode.NOT_SERVED_HERE: NOT_FOUND,
    ErrorCode.UNKNOWN_JOB_KIND: NOT_FOUND,
    ErrorCode.UNAUTHENTICATED: REFUSED,
    ErrorCode.FORBIDDEN: REFUSED,
    ErrorCode.RATE_LIMITED: REFUSED,
    ErrorCode.EXPORT_QUOTA_EXCEEDED: REFUSED,
    ErrorCode.UNAVAILABLE: UNAVAILABLE,
    ErrorCode.NO_SERVING_REPLICA: UNAVAILABLE,
    ErrorCode.RECORDING_UNAVAILABLE: UNAVAILABLE,
    ErrorCode.MODEL_NOT_READY: UNAVAILABLE,
    ErrorCode.REQUEST_TIMEOUT: UNAVAILABLE,
    ErrorCode.ALREADY_EXISTS: CONFLICT,
    ErrorCode.CONFLICT: CONFLICT,
    ErrorCode.ADDRESS_IN_USE: CONFLICT,
}
"""Error codes whose exit status is not 1 (`ERROR`)."""


def exit_status(code: ErrorCode) -> int:
    return EXIT_STATUS.get(code, ERROR)
