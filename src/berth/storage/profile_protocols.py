"""The contract of the profile store: one reference profile (a JSON document) per version.

One implementation (`berth.storage.sql_profiles.SqlProfileStore`, SQLite or PostgreSQL by URL)
and one contract test suite (``tests/storage/test_profile_store.py``) that runs it on both. The
store keeps the document as given; what a profile holds is `berth.control.monitoring.profile`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol


class ProfileStore(Protocol):
    def put_profile(self, model: str, version: int, profile: Mapping[str, Any]) -> datetime:
        """Store (or replace) the profile of an existing version; returns when it was stored.
        MODEL_NOT_FOUND / VERSION_NOT_FOUND when there is no such version, PAYLOAD_TOO_LARGE over
        `berth.storage.sql_profiles.MAX_PROFILE_BYTES`."""
        ...

    def get_profile(self, model: str, version: int) -> dict[str, Any]:
        """The stored profile, else PROFILE_NOT_FOUND (MODEL_/VERSION_NOT_FOUND without the version)."""
        ...
