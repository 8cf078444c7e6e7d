"""What a running job sees: its job, the workspace, and `progress`, which is also where it learns to stop."""

from __future__ import annotations

import logging
import threading
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from berth.core.jobs import Job, check_fraction

if TYPE_CHECKING:  # annotations only: a job kind's module imports this without the storage layer
    from berth.control.feature_views import FeatureService
    from berth.control.publishing import Publisher
    from berth.control.record_service import RecordService
    from berth.core.features import FeatureView
    from berth.runtime.flavors.catalog import FlavorCatalog
    from berth.storage.batch_data import BatchData
    from berth.storage.feature_protocols import FeatureHistory
    from berth.storage.job_protocols import JobStore
    from berth.storage.profile_protocols import ProfileStore
    from berth.storage.protocols import ArtifactStore, RegistryStore

log = logging.getLogger(__name__)


class JobWorkspace(Protocol):
    """What a job may use of the platform it runs in: the registry, the artifacts and flavors (to
    load a version as a server does), the publisher (to push one), profiles, records, and the
    ``s3://`` data batch jobs may reach (`BatchData`, the operator's allow-list), feature views and
    their offline histories. The wiring's
    workspace (`berth.wiring.workspace`) is one."""

    @property
    def store(self) -> RegistryStore: ...
    @property
    def artifacts(self) -> ArtifactStore: ...
    @property
    def batch_data(self) -> BatchData: ...
    @property
    def catalog(self) -> FlavorCatalog: ...
    @property
    def publisher(self) -> Publisher: ...
    @property
    def profiles(self) -> ProfileStore: ...
    @property
    def records(self) -> RecordService: ...
    @property
    def features(self) -> FeatureService: ...
    def feature_history(self, view: FeatureView) -> FeatureHistory: ...


class StopReason(StrEnum):
    CANCELLED = "cancelled"
    """Cancelled (or requeued after its lease ran out): the job is no longer this worker's."""
    INTERRUPTED = "interrupted"
    """The worker is stopping: the job goes back to the queue for another worker."""


class JobStopped(Exception):
    """Raised by `JobContext.progress` when the job must stop; a job lets it propagate."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(f"job {reason.value}")
        self.reason = reason


class JobContext:
    """Given to a kind's ``run(params, ctx)``: report progress with ``ctx.progress(0.4, "scored 400
    rows")``; it raises `JobStopped` when the job was cancelled or the worker is stopping, so a job
    that reports progress regularly stops promptly. Long steps without progress may check `stopping`."""

    def __init__(
        self, job: Job, store: JobStore, worker_id: str, lease_s: float, workspace: JobWorkspace, home: Path
    ) -> None:
        self.job = job
        self.workspace = workspace
        self.home = home
        """The berth home folder: files jobs read and write are named relative to it."""
        self._store = store
        self._worker_id = worker_id
        self._lease_s = lease_s
        self._lost = threading.Event()
        self._interrupted = threading.Event()
        self._logged_tenth = -1

    def progress(self, fraction: float, message: str = "") -> None:
        """Record how far the job is (a fraction in [0, 1]); raises `JobStopped` when it must stop."""
        self.raise_if_stopping()
        fraction = check_fraction(fraction)
        if not self._store.progress(self.job.id, self._worker_id, fraction, message, self._lease_s):
            self._lost.set()
            self.raise_if_stopping()
        tenth = int(fraction * 10)
        if tenth != self._logged_tenth:  # the log gets a line per tenth of the way
            self._logged_tenth = tenth
            log.info("job %d (%s): %.0f%% %s", self.job.id, self.job.kind, fraction * 100, message)

    @property
    def stopping(self) -> bool:
        return self._lost.is_set() or self._interrupted.is_set()

    def raise_if_stopping(self) -> None:
        if self._lost.is_set():
            raise JobStopped(StopReason.CANCELLED)
        if self._interrupted.is_set():
            raise JobStopped(StopReason.INTERRUPTED)

    # -- for the worker ------------------------------------------------------------------------
    def mark_lost(self) -> None:
        self._lost.set()

    def interrupt(self) -> None:
        self._interrupted.set()
