"""The job kinds a process is built with: berth's built-ins, then those installed packages register
(``berth.jobs`` entry points, `berth.control.jobs.kinds.discover_kinds`). The job machinery
(`berth.control.jobs`) knows no kind of its own: it is handed these."""

from __future__ import annotations

from berth.control.feature_materialize import FEATURES_MATERIALIZE
from berth.control.jobs.batch_score import BATCH_SCORE
from berth.control.jobs.kind import JobKind
from berth.control.jobs.kinds import JobKinds, discover_kinds
from berth.control.record_export_jobs import RECORDS_EXPORT
from berth.control.retraining.job import RETRAIN


def builtin_kinds() -> list[JobKind]:
    return [BATCH_SCORE, RETRAIN, RECORDS_EXPORT, FEATURES_MATERIALIZE]


def installed_kinds() -> JobKinds:
    """berth's built-in kinds and those of the ``berth.jobs`` entry points (a built-in wins a name)."""
    return JobKinds([*builtin_kinds(), *discover_kinds()])
