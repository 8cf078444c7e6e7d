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
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from berth.core.errors import BerthError, ErrorCode


class Metric(StrEnum):
    """What a rule can watch (every value comes from `berth.engine.monitor_service`)."""

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

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def describe(self, value: float) -> str:
        condition = f"{self.op} {self.threshold:g} over {self.window_s} s"
        return f"{self.metric.value} of {self.target} is {value:.4g} ({condition})"

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        out = {
            "name": self.name,
            "target": self.target,
            "metric": self.metric.value,
            "op": self.op,
            "threshold": self.threshold,
            "window_s": self.window_s,
            "min_samples": self.min_samples,
            "webhook_url": self.webhook_url,
            "has_secret": bool(self.secret),
            "enabled": self.enabled,
            "description": self.description,
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
        if url and len(secret) < 16:
            raise _invalid("secret: a webhook needs a shared secret of at least 16 characters (for its HMAC)")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise _invalid("enabled: true or false")
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
        )

    def with_updates(self, data: Mapping[str, Any]) -> AlertRule:
        """This rule with the fields of `data` replaced (a rule keeps its name)."""
        merged = self.to_json(with_secret=True) | dict(data) | {"name": self.name}
        merged.pop("has_secret", None)
        return AlertRule.from_json(merged)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One line of the alert log: a rule fired or resolved, and how its webhook call went."""

    id: int
    rule: str
    target: str
    kind: str
    """'fired' or 'resolved'."""
    value: float
    message: str
    at: datetime
    delivery: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "target": self.target,
            "kind": self.kind,
            "value": self.value,
            "message": self.message,
            "fired_at": self.at.isoformat(),
            "delivery": self.delivery,
        }


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


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"{key}: an integer from {low} to {high}")
    return value


def _webhook_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2000:
        raise _invalid("webhook_url: an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise _invalid("webhook_url: an http(s) URL")
    return value
