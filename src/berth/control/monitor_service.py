"""Monitoring of one endpoint (or model) over a time window: traffic, latency, errors, accuracy,
drift, staleness and the alerts it fired — the one place the API, the CLI, the UI and the alert
rules read them from.

Where each figure comes from:
- traffic, latency: the prediction records (answered requests) in the window; errors: the failed
  requests the servers journaled (`berth.storage.sql_records`, ``prediction_errors``);
- accuracy: the records joined with their feedback (`berth.control.monitoring.performance`);
- drift: the model inputs (after pre-steps) and outputs of the newest records of the version that
  answered most in the window, against that version's reference profile (at most
  `DRIFT_SAMPLE` records: drift is a property of a distribution, and a large sample decides it);
- staleness: that version's age and its training data's age;
- served features (an endpoint's ``features`` steps): the null rate of each served feature in the
  window's newest `FEATURE_SAMPLE` records, the freshness of the entities they served (their
  views' stores read back now), the outcomes of their look-ups at serving time (what the records
  kept of each read) and the drift of those features from the drift report
  (`berth.control.monitoring.feature_quality`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from berth.control.alerts.evaluator import Observation
from berth.control.alerts.rules import Metric
from berth.control.monitoring.feature_quality import feature_quality, worst
from berth.control.monitoring.profile import Profile
from berth.control.monitoring.staleness import staleness
from berth.control.record_service import check_window
from berth.control.served_features import ServedFeatures
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import LabelledPrediction
from berth.storage.profile_protocols import ProfileStore
from berth.storage.protocols import RegistryStore
from berth.storage.record_protocols import RecordStore
from berth.storage.sql_alerts import SqlAlertStore
from berth.storage.sql_record_stats import SqlRecordStats

if TYPE_CHECKING:
    from berth.control.monitoring.drift import DriftConfig, DriftReport, FeatureDrift

DRIFT_SAMPLE: Final = 100_000
FEATURE_SAMPLE: Final = 10_000
MAX_BUCKETS: Final = 2000
DEFAULT_WINDOW: Final = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    bucket_s: int

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None, bucket_s: int | None) -> Window:
        end = end or datetime.now(UTC)
        start = start or end - DEFAULT_WINDOW
        check_window(start, end)
        span = (end - start).total_seconds()
        if bucket_s is None:
            bucket_s = max(60, int(span // 48) // 60 * 60 or 60)
        if bucket_s < 1 or span / bucket_s > MAX_BUCKETS:
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                f"bucket_s {bucket_s} gives more than {MAX_BUCKETS} buckets over this window",
            )
        # buckets on multiples of bucket_s since the epoch, as accuracy buckets are
        aligned = datetime.fromtimestamp(start.timestamp() // bucket_s * bucket_s, UTC)
        return cls(aligned, end, bucket_s)

    def edges(self) -> list[datetime]:
        out = []
        at = self.start
        step = timedelta(seconds=self.bucket_s)
        while at < self.end:
            out.append(at)
            at += step
        return out

    def index(self, moment: datetime) -> int:
        return int((moment - self.start).total_seconds() // self.bucket_s)


class MonitorService:
    def __init__(
        self,
        records: RecordStore,
        stats: SqlRecordStats,
        profiles: ProfileStore,
        registry: RegistryStore,
        alerts: SqlAlertStore,
        drift_config: DriftConfig | None = None,
        *,
        served_features: ServedFeatures | None = None,
    ) -> None:
        self._records = records
        self._stats = stats
        self._profiles = profiles
        self._registry = registry
        self._alerts = alerts
        self._drift_config = drift_config
        self._served = served_features

    # -- the whole picture (API, UI) -----------------------------------------------------------
    def snapshot(self, name: str, window: Window) -> dict[str, Any]:
        edges = window.edges()
        timings = self._stats.timings(endpoint=name, start=window.start, end=window.end)
        errors = self._stats.error_counts(endpoint=name, start=window.start, end=window.end)
        labelled = list(self._records.labelled(endpoint=name, start=window.start, end=window.end))
        report, dominant = self._drift_report(name, window)
        drift = self._drift(report, dominant)
        return {
            "name": name,
            "window": {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "bucket_s": window.bucket_s,
            },
            "buckets": [e.isoformat() for e in edges],
            "traffic": {"series": _traffic(timings, window, len(edges))},
            "errors": {"series": _errors(errors, window, len(edges))},
            "latency": {"series": _latency(timings, window, len(edges))},
            "accuracy": _accuracy(labelled, window, len(edges)),
            "drift": drift,
            "staleness": self._staleness(dominant),
            "features": self._features(name, window, report),
            "alerts": [
                {"rule": e.rule, "kind": e.kind, "fired_at": e.at.isoformat(), "message": e.message}
                for e in self._alerts.events(target=name, start=window.start, end=window.end, limit=50)
            ],
        }

    def compare(self, name: str, a: str, b: str, window: Window) -> dict[str, Any]:
        from berth.control.monitoring.comparison import compare_variants  # scipy: loaded when used

        labelled = list(self._records.labelled(endpoint=name, start=window.start, end=window.end))
        return compare_variants(labelled, a, b).to_json()

    # -- one metric (alert rules) --------------------------------------------------------------
    def observe(
        self,
        target: str,
        metric: Metric,
        window_s: int,
        now: datetime,
        *,
        view: str | None = None,
        feature: str | None = None,
    ) -> Observation:
        """A metric over the window before `now`. For served features, `view` narrows it to one view
        (and `feature` to one of its features) instead of the worst over the endpoint's views."""
        from berth.control.monitoring.performance import performance  # loaded when used

        start = now - timedelta(seconds=window_s)
        if metric in (Metric.ACCURACY, Metric.MAE):
            labelled = list(self._records.labelled(endpoint=target, start=start, end=now))
            overall = performance(labelled).overall
            value = overall.accuracy if metric is Metric.ACCURACY else overall.mae
            return Observation(value, overall.n)
        if metric in (Metric.LATENCY_P95_S, Metric.LATENCY_P99_S):
            latencies = np.array([t[2] for t in self._stats.timings(endpoint=target, start=start, end=now)])
            if latencies.size == 0:
                return Observation(None, 0)
            q = 95 if metric is Metric.LATENCY_P95_S else 99
            return Observation(float(np.percentile(latencies, q)), int(latencies.size))
        if metric is Metric.ERROR_RATE:
            answered = self._stats.count_answered(endpoint=target, start=start, end=now)
            failed = sum(n for _, _, n in self._stats.error_counts(endpoint=target, start=start, end=now))
            total = answered + failed
            return Observation(failed / total if total else None, total)
        window = Window(start, now, window_s)
        if metric in _FEATURE_FIGURES:
            views = _selected(self._features(target, window, None), view, feature)
            return Observation(*worst(views, _FEATURE_FIGURES[metric]))
        if metric is Metric.FEATURE_DRIFT_SHARE:
            report, _ = self._drift_report(target, window)
            views = _selected(self._features(target, window, report), view, feature)
            return Observation(*_served_drift_share(views))
        if metric in (Metric.DRIFT_SHARE, Metric.PREDICTION_DRIFT):
            report, _ = self._drift_report(target, window)
            if report is None:
                return Observation(None, 0)
            if metric is Metric.DRIFT_SHARE:
                return Observation(report.dataset.share if report.dataset.tested else None, report.records)
            return Observation(1.0 if report.prediction.drifted else 0.0, report.records)
        stale = self._staleness(self._stats.busiest_version(endpoint=target, start=start, end=now))
        key = "version_age_s" if metric is Metric.VERSION_AGE_DAYS else "data_age_s"
        seconds = stale.get(key)
        return Observation(None if seconds is None else seconds / 86400, 1)

    def served_views(self, target: str) -> dict[str, tuple[str, tuple[str, ...]]]:
        """The feature views the target's ``features`` steps read: name -> (team, the view's
        features served), for checking a rule's `view` and `feature`."""
        if self._served is None:
            return {}
        return {s.view.name: (s.view.team, s.features) for s in self._served.views(target)}

    # -- pieces --------------------------------------------------------------------------------
    def _features(self, name: str, window: Window, report: DriftReport | None) -> list[dict[str, Any]]:
        if self._served is None:
            return []
        served = self._served.views(name)
        if not served:
            return []
        records = self._stats.window_requests(
            endpoint=name, start=window.start, end=window.end, limit=FEATURE_SAMPLE
        )
        lookups = self._stats.window_features_served(
            endpoint=name, start=window.start, end=window.end, limit=FEATURE_SAMPLE
        )
        # the stores are read as they are now, so ages count to now whatever the window's end
        now = datetime.now(UTC).timestamp()
        views = feature_quality(served, records, self._served.read, now, lookups=lookups)
        drifts = {} if report is None else {f.feature: f for f in report.inputs}
        for view in views:
            for feature in view["features"]:
                found = drifts.get(feature["feature"])
                feature["drift"] = None if found is None else _verdict(found)
        return views

    def _drift(self, report: DriftReport | None, dominant: tuple[str, int] | None) -> dict[str, Any]:
        if dominant is None:
            return {"status": "no_data", "features": [], "drifted_share": None}
        if report is None:
            return {
                "status": "no_profile",
                "features": [],
                "drifted_share": None,
                "version": f"{dominant[0]}:{dominant[1]}",
            }
        features = [
            {
                "feature": f.feature,
                "kind": f.kind,
                "test": f.test,
                "statistic": f.statistic,
                "p_value": f.p_value,
                "threshold": f.threshold,
                "drifted": f.drifted,
                "n_reference": f.n_reference,
                "n_current": f.n_current,
                "status": f.status.value,
            }
            for f in report.inputs
        ]
        return {
            "status": report.dataset.status.value,
            "features": features,
            "drifted_share": report.dataset.share if report.dataset.tested else None,
            "version": f"{dominant[0]}:{dominant[1]}",
            "records": report.records,
            "prediction": report.prediction.to_json(),
            "outputs": [f.to_json() for f in report.outputs],
        }

    def _drift_report(self, name: str, window: Window) -> tuple[DriftReport | None, tuple[str, int] | None]:
        rows = self._stats.window_tensors(
            endpoint=name, start=window.start, end=window.end, limit=DRIFT_SAMPLE
        )
        if not rows:
            return None, None
        counts: dict[tuple[str, int], int] = defaultdict(int)
        for model, version, _, _ in rows:
            counts[(model, version)] += 1
        dominant = max(counts, key=lambda k: counts[k])
        try:
            profile = Profile.from_json(self._profiles.get_profile(*dominant))
        except BerthError:
            return None, dominant
        from berth.control.monitoring.drift import compute_drift  # scipy: loaded when used
        from berth.control.monitoring.features import current_features

        mine = [(inputs, outputs) for m, v, inputs, outputs in rows if (m, v) == dominant]
        report = compute_drift(
            profile,
            current_features(i for i, _ in mine),
            current_features(o for _, o in mine),
            self._drift_config,
        )
        return report, dominant

    def _staleness(self, dominant: tuple[str, int] | None) -> dict[str, Any]:
        if dominant is None:
            return {"version_age_s": None, "data_age_s": None}
        try:
            version = self._registry.get_version(*dominant)
        except BerthError:
            return {"version_age_s": None, "data_age_s": None}
        try:
            profile: Profile | None = Profile.from_json(self._profiles.get_profile(*dominant))
        except BerthError:
            profile = None
        return staleness(version, profile).to_json()


_FEATURE_FIGURES: Final = {
    Metric.FEATURE_NULL_RATE: "null_rate",
    Metric.FEATURE_MISSING_SHARE: "missing_share",
    Metric.FEATURE_STALE_SHARE: "stale_share",
    Metric.FEATURE_MISS_SHARE: "miss_share",
}


def _selected(views: Sequence[dict[str, Any]], view: str | None, feature: str | None) -> list[dict[str, Any]]:
    """The served views a rule watches: all of them, or the one named (with only `feature`)."""
    if view is None:
        return list(views)
    chosen = [v for v in views if v["view"] == view]
    if feature is None:
        return chosen
    return [v | {"features": [f for f in v["features"] if f["feature"] == feature]} for v in chosen]


def _verdict(found: FeatureDrift) -> dict[str, Any]:
    return {
        "status": found.status.value,
        "drifted": found.drifted,
        "test": found.test,
        "statistic": found.statistic,
    }


def _served_drift_share(views: Sequence[dict[str, Any]]) -> tuple[float | None, int]:
    """The share of served features with a drift verdict that drift, and the records behind it."""
    verdicts = [
        f["drift"]["drifted"]
        for v in views
        for f in v["features"]
        if f["drift"] is not None and f["drift"]["status"] in ("ok", "drifted")
    ]
    if not verdicts:
        return None, 0
    return sum(verdicts) / len(verdicts), max(v["records"] for v in views)


def variant_label(model: str, version: int, variant: str) -> str:
    return variant or f"{model}:{version}"


def _traffic(timings: Sequence[tuple[datetime, str, float]], window: Window, n: int) -> dict[str, list[int]]:
    series: dict[str, list[int]] = {}
    for at, variant, _ in timings:
        i = window.index(at)
        if 0 <= i < n:
            series.setdefault(variant, [0] * n)[i] += 1
    return dict(sorted(series.items()))


def _errors(errors: Sequence[tuple[datetime, str, int]], window: Window, n: int) -> dict[str, list[int]]:
    series: dict[str, list[int]] = {}
    for at, code, count in errors:
        i = window.index(at)
        if 0 <= i < n:
            series.setdefault(code, [0] * n)[i] += count
    return dict(sorted(series.items()))


def _latency(
    timings: Sequence[tuple[datetime, str, float]], window: Window, n: int
) -> dict[str, list[float | None]]:
    per_bucket: list[list[float]] = [[] for _ in range(n)]
    for at, _, latency in timings:
        i = window.index(at)
        if 0 <= i < n:
            per_bucket[i].append(latency)
    out: dict[str, list[float | None]] = {"p50": [], "p95": [], "p99": []}
    for values in per_bucket:
        if values:
            p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
            out["p50"].append(float(p50))
            out["p95"].append(float(p95))
            out["p99"].append(float(p99))
        else:
            for key in out:
                out[key].append(None)
    return out


def _accuracy(labelled: list[LabelledPrediction], window: Window, n: int) -> dict[str, Any]:
    from berth.control.monitoring.performance import performance  # loaded when used

    report = performance(labelled, bucket_s=window.bucket_s)
    metric = "mae" if report.task == "regression" else "accuracy"
    series: dict[str, list[float | None]] = {}
    overall: dict[str, dict[str, Any]] = {}
    models = {(p.version, p.variant): p.model for p in labelled}
    for group in report.groups:
        label = variant_label(models.get((group.version, group.variant), ""), group.version, group.variant)
        values: list[float | None] = [None] * n
        for bucket in group.buckets:
            i = window.index(bucket.start) if bucket.start >= window.start else 0
            if 0 <= i < n:
                values[i] = getattr(bucket.metrics, metric)
        series[label] = values
        overall[label] = {"n": group.metrics.n, "value": getattr(group.metrics, metric)}
    return {
        "status": report.status,
        "metric": metric,
        "task": report.task,
        "series": series,
        "overall": overall,
        "all": report.overall.to_json(),
    }
