"""A `Moment` field written back as JSON: UTC ISO 8601 text, without a warning (pydantic 2.14 warned
on optional ones, a server error where warnings are errors: an export with a start or an end)."""

from __future__ import annotations

import warnings

from berth.core.record_requests import ExportBody


def test_an_optional_moment_dumps_as_utc_text_without_a_warning() -> None:
    body = ExportBody.model_validate(
        {"endpoint": "e", "start": "2100-01-01T01:00:00+01:00", "end": 4102448400}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = body.model_dump(mode="json", exclude_none=True)
    assert (dumped["start"], dumped["end"]) == ("2100-01-01T00:00:00Z", "2100-01-01T01:00:00Z")
    assert ExportBody.model_validate(dumped) == body
