"""Reference profiles in the registry database, one per version (``version_profiles``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.schema import version_profiles
from berth.storage.transactions import run_transaction

MAX_PROFILE_BYTES: Final = 4 * 1024 * 1024
"""The largest profile document stored (a profile built by berth is a few hundred KB at most)."""


class SqlProfileStore:
    """Profiles in the registry database (an engine shared with the registry store)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put_profile(self, model: str, version: int, profile: Mapping[str, Any]) -> datetime:
        document = _checked(profile)

        def work(conn: Connection) -> datetime:
            q.version_row(conn, q.model_row(conn, model), version)
            at = q.now()
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            values = {"model": model, "version": version, "profile": document, "created_at": at}
            stmt = dialect.insert(version_profiles).values(**values)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model", "version"],
                    set_={"profile": stmt.excluded.profile, "created_at": stmt.excluded.created_at},
                )
            )
            record_event(conn, "profile.put", "version", f"{model}/{version}")
            return at

        return run_transaction(self._engine, work, write=True)

    def get_profile(self, model: str, version: int) -> dict[str, Any]:
        def work(conn: Connection) -> dict[str, Any]:
            q.version_row(conn, q.model_row(conn, model), version)
            stmt = select(version_profiles.c.profile).where(
                version_profiles.c.model == model, version_profiles.c.version == version
            )
            found = conn.execute(stmt).scalar_one_or_none()
            if found is None:
                raise BerthError(
                    ErrorCode.PROFILE_NOT_FOUND,
                    f"version {version} of {model!r} has no reference profile",
                    model=model,
                    version=version,
                )
            return dict(found)

        return run_transaction(self._engine, work)


def _checked(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The profile as a plain JSON object of bounded size."""
    if not isinstance(profile, Mapping):
        raise BerthError(ErrorCode.INVALID_REQUEST, "a profile is a JSON object")
    try:
        encoded = orjson.dumps(dict(profile))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"the profile is not JSON: {exc}") from None
    if len(encoded) > MAX_PROFILE_BYTES:
        raise BerthError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the profile has {len(encoded)} bytes; at most {MAX_PROFILE_BYTES}",
        )
    document: dict[str, Any] = orjson.loads(encoded)  # NaN and infinities were written as null
    return document
