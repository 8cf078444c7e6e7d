"""The one table from error codes to HTTP statuses (``berth.server.rest.errors``) covers every code."""

from __future__ import annotations

from berth.core.errors import ErrorCode
from berth.server.rest.errors import HTTP_STATUS


def test_every_error_code_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(ErrorCode)
    assert all(400 <= status <= 599 for status in HTTP_STATUS.values())
    assert HTTP_STATUS[ErrorCode.MODEL_NOT_FOUND] == 404
    assert HTTP_STATUS[ErrorCode.PAYLOAD_TOO_LARGE] == 413
    assert HTTP_STATUS[ErrorCode.INTERNAL] == 500
