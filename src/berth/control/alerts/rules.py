"""Alert rules: a metric of an endpoint's monitoring compared with a threshold.

A rule watches one endpoint (or model) over a trailing window. When its condition starts to hold
it fires once (an entry in the alert log and a signed webhook call); it stays firing, without
repeating itself, until the condition stops holding, which resolves it (logged and sent too).
A window without enough data neither fires nor resolves.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from berth.control.alerts.destinations import redact_url
from berth.control.alerts.webhook import new_secret
from berth.core.errors import BerthError, ErrorCode


class Metric(StrEnum):
    """What a rule can watch (every value comes from `berth.control.monitor_service`)."""

    DRIFT_SHARE = "drift_share"
    """Share of input features that drift against the version's reference profile (0..1)."""
    PREDICTION_DRIFT = "prediction_drift"
    """1 when the predictions (outputs) drift against the profile, else 0."""
    ACCURACY = "accuracy"
    """Accuracy from feedback over the window (classification)."""
    MAE = "mae"
    """Mean absolute error from feedback over the window (regression)."""
    ERROR_RATE = "error_rate"
    """Failed requests / all requests over the window (0..1)."""
    LATENCY_P95_S = "latency_p95_s"
    LATENCY_P99_S = "latency_p99_s"
    VERSION_AGE_DAYS = "version_age_days"
    """Age of the version serving the most traffic."""
    DATA_AGE_DAYS = "data_age_days"
    """Time since the serving version's training data was profiled."""
    FEATURE_NULL_RATE = "feature_null_rate"
    """The highest null rate of a feature the endpoint's ``features`` steps serve (0..1)."""
    FEATURE_MISSING_SHARE = "feature_missing_share"
    """The highest share, over the served views, of entities served that their store lacks now."""
    FEATURE_STALE_SHARE = "feature_stale_share"
    """The highest share, over the served views, of entities served whose value is older than the TTL."""
    FEATURE_DRIFT_SHARE = "feature_drift_share"
    """Share of the served features that drift against the version's reference profile (0..1)."""
    FEATURE_MISS_SHARE = "feature_miss_share"
    """The highest share, over the served views, of the rows looked up at serving time that were not
    served a fresh value (outcome ``miss``, ``stale`` or ``unavailable``; from the records)."""


VIEW_METRICS: Final = frozenset(
    {
        Metric.FEATURE_NULL_RATE,
        Metric.FEATURE_MISSING_SHARE,
        Metric.FEATURE_STALE_SHARE,
        Metric.FEATURE_DRIFT_SHARE,
        Metric.FEATURE_MISS_SHARE,
    }
)
"""Metrics of served features: a rule may watch one view (``view``) instead of the worst of them."""
FEATURE_METRICS: Final = frozenset({Metric.FEATURE_NULL_RATE, Metric.FEATURE_DRIFT_SHARE})
"""Metrics with a figure per feature: a rule on one view may watch one of its features (``feature``)."""


OPERATORS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class AlertState(StrEnum):
    OK = "ok"
    FIRING = "firing"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    target: str
    metric: Metric
    op: str
    threshold: float
    window_s: int = 3600
    min_samples: int = 30
    webhook_url: str | None = None
    secret: str = field(default="", repr=False)
    enabled: bool = True
    description: str = ""
    view: str | None = None
    """One feature view the target serves (metrics in `VIEW_METRICS`; None: the worst view)."""
    feature: str | None = None
    """One feature of `view` (metrics in `FEATURE_METRICS`; None: all of the view's)."""

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def describe(self, value: float) -> str:
        condition = f"{self.op} {self.threshold:g} over {self.window_s} s"
        return f"{self.metric.value} of {self.target}{self.selector()} is {value:.4g} ({condition})"

    def selector(self) -> str:
        """`` (view v)`` or `` (view v, feature f)`` for a rule on one view; empty otherwise."""
        if self.view is None:
            return ""
        return f" (view {self.view}" + (f", feature {self.feature})" if self.feature else ")")

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        """The rule as stored (`with_secret`), or as callers see it: no secret, and the webhook URL
        without credentials (user, password, query values)."""
        out = {
            "name": self.name,
            "target": self.target,
            "metric": self.metric.value,
            "op": self.op,
            "threshold": self.threshold,
            "window_s": self.window_s,
            "min_samples": self.min_samples,
            "webhook_url": self.webhook_url if with_secret else redact_url(self.webhook_url),
            "has_secret": bool(self.secret),
            "enabled": self.enabled,
            "description": self.description,
            "view": self.view,
            "feature": self.feature,
        }
        if with_secret:
            out["secret"] = self.secret
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertRule:
        """A rule from its JSON form; INVALID_REQUEST naming the field otherwise."""
        if not isinstance(data, Mapping):
            raise _invalid("a rule is a JSON object")
        known = {f for f in cls.__dataclass_fields__} | {"has_secret"}
        unknown = set(data) - known
        if unknown:
            raise _invalid(f"unknown rule fields {sorted(unknown)}")
        name = _text(data, "name", required=True)
        if not NAME.match(name):
            raise _invalid("name: 1-64 of a-z 0-9 . _ -, starting with a letter or digit")
        try:
            metric = Metric(str(data.get("metric")))
        except ValueError:
            raise _invalid(f"metric: one of {[m.value for m in Metric]}") from None
        op = str(data.get("op", ">"))
        if op not in OPERATORS:
            raise _invalid(f"op: one of {list(OPERATORS)}")
        threshold = data.get("threshold")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise _invalid("threshold: a finite number")
        window_s = _int(data, "window_s", 3600, 60, 90 * 86400)
        min_samples = _int(data, "min_samples", 30, 1, 10_000_000)
        url = data.get("webhook_url")
        if url is not None:
            url = _webhook_url(url)
        secret = _text(data, "secret")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise _invalid("enabled: true or false")
        view, feature = _selector(data, metric)
        return cls(
            name=name,
            target=_text(data, "target", required=True)[:128],
            metric=metric,
            op=op,
            threshold=float(threshold),
            window_s=window_s,
            min_samples=min_samples,
            webhook_url=url,
            secret=secret,
            enabled=enabled,
            description=_text(data, "description")[:1000],
            view=view,
            feature=feature,
        )

    @classmethod
    def from_request(cls, data: Mapping[str, Any]) -> AlertRule:
        """A new rule from a caller's JSON: berth chooses its webhook's signing secret
        (`with_new_secret_if_needed`), a caller never sends one."""
        _no_secret(data)
        return cls.from_json(data)._checked_for_callers().with_new_secret_if_needed()

    def with_updates(self, data: Mapping[str, Any]) -> AlertRule:
        """This rule with the fields of a caller's `data` replaced (a rule keeps its name and its
        secret; a rule that gets its first webhook gets a secret)."""
        _no_secret(data)
        merged = self.to_json(with_secret=True) | dict(data) | {"name": self.name, "secret": self.secret}
        merged.pop("has_secret", None)
        return AlertRule.from_json(merged)._checked_for_callers().with_new_secret_if_needed()

    def check_served(self, served: Mapping[str, tuple[str, ...]]) -> None:
        """INVALID_REQUEST unless the rule's `view` (if any) is one of `served` (the views its target
        serves that its caller may read: name -> the features served) and its `feature` one of those."""
        if self.view is None:
            return
        features = served.get(self.view)
        if features is None:
            raise _invalid(
                f"view: {self.target!r} serves no feature view {self.view!r} "
                "(the views it serves are in its monitoring: GET /api/v1/monitor/{name})"
            )
        if self.feature is not None and self.feature not in features:
            raise _invalid(
                f"feature: {self.target!r} serves no feature {self.feature!r} of view {self.view!r} "
                f"(it serves {sorted(features)})"
            )

    def _checked_for_callers(self) -> AlertRule:
        """What a caller may no longer set (rules stored before still load): credentials in the URL."""
        if self.webhook_url and "@" in urlsplit(self.webhook_url).netloc:
            raise _invalid(
                "webhook_url: no user or password in the URL (deliveries are signed with the rule's secret)"
            )
        return self

    def with_new_secret_if_needed(self) -> AlertRule:
        """This rule, with a fresh signing secret when it has a webhook and no secret yet."""
        if self.webhook_url and not self.secret:
            return replace(self, secret=new_secret())
        return self

    def with_rotated_secret(self) -> AlertRule:
        """This rule with a fresh signing secret (INVALID_REQUEST when it has no webhook)."""
        if not self.webhook_url:
            raise _invalid("the rule has no webhook_url, so no secret to rotate")
        return replace(self, secret=new_secret())


def _invalid(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_REQUEST, f"invalid alert rule: {message}")


def _text(data: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _invalid(f"{key}: a string")
    if required and not value:
        raise _invalid(f"{key} is required")
    return value


def _selector(data: Mapping[str, Any], metric: Metric) -> tuple[str | None, str | None]:
    """The rule's `view` and `feature`, checked against its metric (whether the target serves them
    is checked where the rule is made: `berth.server.rest.alert_routes`)."""
    view = _text(data, "view") or None
    feature = _text(data, "feature") or None
    if view is not None:
        if metric not in VIEW_METRICS:
            raise _invalid(f"view: only for the metrics {sorted(m.value for m in VIEW_METRICS)}")
        if len(view) > 128:
            raise _invalid("view: a feature view's name")
    if feature is not None:
        if metric not in FEATURE_METRICS:
            raise _invalid(f"feature: only for the metrics {sorted(m.value for m in FEATURE_METRICS)}")
        if view is None:
            raise _invalid("feature: needs the view it belongs to (view)")
        if len(feature) > 128:
            raise _invalid("feature: a feature's name")
    return view, feature


def _no_secret(data: Mapping[str, Any]) -> None:
    if isinstance(data, Mapping) and data.get("secret") not in (None, ""):
        raise _invalid(
            "secret: berth chooses a webhook's signing secret (a Standard Webhooks 'whsec_' key): it is "
            "in the answer that creates the webhook, and rotating it (POST .../rotate-secret) makes a new one"
        )


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"{key}: an integer from {low} to {high}")
    return value


def _webhook_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2000 or not value.isascii() or not value.isprintable():
        raise _invalid("webhook_url: an http(s) URL")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        raise _invalid("webhook_url: an http(s) URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise _invalid("webhook_url: an http(s) URL")
    if parts.fragment:
        raise _invalid("webhook_url: no #fragment")
    return value
