"""The one table from berth's error codes to the CLI's exit statuses (`berth.cli.exit_codes`)."""

from __future__ import annotations

from berth.cli import exit_codes
from berth.core.errors import ErrorCode


def test_every_lookup_is_not_found_and_access_is_refused() -> None:
    for code in ErrorCode:
        status = exit_codes.exit_status(code)
        assert status in (1, 3, 4, 5, 6), code
        if code.value.endswith("_not_found"):
            assert status == exit_codes.NOT_FOUND, code
    assert exit_codes.exit_status(ErrorCode.UNAUTHENTICATED) == exit_codes.REFUSED == 4
    assert exit_codes.exit_status(ErrorCode.FORBIDDEN) == 4
    assert exit_codes.exit_status(ErrorCode.UNAVAILABLE) == exit_codes.UNAVAILABLE == 5
    assert exit_codes.exit_status(ErrorCode.ADDRESS_IN_USE) == exit_codes.CONFLICT == 6
    assert exit_codes.exit_status(ErrorCode.SIGNATURE_MISMATCH) == exit_codes.ERROR == 1
