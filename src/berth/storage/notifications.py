"""Change notifications: PostgreSQL LISTEN/NOTIFY, so replicas reconcile as soon as a change commits.

Every change of the registry bumps its change counter and, on PostgreSQL, sends a notification on
`CHANGE_CHANNEL` in the same transaction (PostgreSQL delivers it at commit). `ChangeListener`
holds one extra connection that listens and calls `on_change` for each notification; it
reconnects with back-off when the connection drops. Servers keep polling the counter as well (the
fallback, and the only way on SQLite, which has no notifications).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Final

from sqlalchemy.engine import make_url

from berth.storage.queries import CHANGE_CHANNEL

log = logging.getLogger(__name__)

_WAIT_S: Final = 0.5
_MAX_BACKOFF_S: Final = 5.0


def supports_notifications(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def _libpq_url(database_url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as libpq reads it (``postgresql://…``)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class ChangeListener:
    """Listens for registry changes on PostgreSQL in a daemon thread."""

    def __init__(self, database_url: str) -> None:
        self._url = _libpq_url(database_url)
        self._on_change: Callable[[], None] = lambda: None
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="berth-change-listener", daemon=True)

    def start(self, on_change: Callable[[], None]) -> None:
        """Listen; call `on_change` (from the listener's thread) at every change notification."""
        self._on_change = on_change
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """True once the listener has subscribed (changes after this are not missed)."""
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg  # the postgres extra: imported only on PostgreSQL (berth.core.extras)
        from psycopg import sql

        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANGE_CHANNEL)))
                    self._listening.set()
                    backoff = 0.1
                    self._on_change()  # anything committed while we were not listening
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=_WAIT_S, stop_after=1):
                            log.debug("registry change %s", notify.payload)
                            self._on_change()
            except psycopg.Error as exc:
                self._listening.clear()
                log.warning("change notifications interrupted (%s); polling meanwhile", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
            except Exception:  # never let the thread die silently: polling still works, say so
                log.exception("change listener failed; retrying")
                with contextlib.suppress(Exception):
                    self._stop.wait(_MAX_BACKOFF_S)
