"""The contract of the consumer store: calls counted per caller, and announced deprecations.

One implementation (`berth.storage.sql_consumers.SqlConsumerStore`, SQLite or PostgreSQL by URL)
and one contract suite (``tests/storage/test_consumer_store.py``) that runs it on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from berth.core.consumers import Consumer, Deprecation, DeprecationScope, UsageCount


class ConsumerStore(Protocol):
    def add_usage(self, counts: Sequence[UsageCount]) -> None:
        """Add `counts` to the stored ones (calls and errors added, the latest call kept): several
        processes flushing the same key add up. One transaction; nothing is added when it fails."""
        ...

    def consumers(self, kind: str, name: str, *, now: datetime | None = None) -> list[Consumer]:
        """Who called the model (`kind` 'model': every answer it gave, directly or through an
        endpoint) or endpoint `name` since it was created, by team and principal, most calls first.
        MODEL_NOT_FOUND / ENDPOINT_NOT_FOUND when there is no such thing."""
        ...

    def announce(
        self,
        kind: str,
        name: str,
        scope: DeprecationScope,
        subject: str,
        *,
        sunset_at: datetime,
        message: str = "",
        link: str | None = None,
        deprecated_at: datetime | None = None,
        actor: str = "",
    ) -> Deprecation:
        """Announce (or change) the deprecation of a version or alias of model `name`, or of
        endpoint `name`; audited, and the registry's change counter moves (servers reload their
        notices). The version, alias or endpoint must exist; the sunset comes after the deprecation."""
        ...

    def withdraw(self, kind: str, name: str, scope: DeprecationScope, subject: str) -> Deprecation:
        """Withdraw a deprecation (audited); DEPRECATION_NOT_FOUND when there is none."""
        ...

    def deprecations(self, kind: str, name: str) -> list[Deprecation]:
        """The deprecations of the model or endpoint `name` now (NOT_FOUND when it does not exist)."""
        ...

    def all_deprecations(self) -> list[Deprecation]:
        """Every deprecation of the models and endpoints that exist now (what servers announce)."""
        ...
