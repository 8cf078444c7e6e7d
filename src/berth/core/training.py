"""Retraining's vocabulary: a trainer (data in, fitted model out) and the retrain job's parameters.

A **trainer** is a Python object a package registers under the entry-point group
``berth.trainers`` (a factory taking the job's ``trainer_options``; the package imports the
`Trainer` contract from `berth.extensions`)::

    [project.entry-points."berth.trainers"]
    voice = "the_voice.trainer:VoiceTrainer"

It knows its base data, how a prediction record's inputs become training rows, how to train, and
what its model takes as input. berth's ``retrain`` job does the rest: corrections from feedback, the
gold hold-out, the champion/challenger comparison, the push and the promotion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from berth.core.errors import BerthError, ErrorCode

DEFAULT_MARGIN: Final = 0.01
DEFAULT_HOLDOUT_PERCENT: Final = 20
DEFAULT_MIN_HOLDOUT: Final = 20
MAX_NAME_LENGTH: Final = 256


Labelled = tuple[Sequence[Any], Sequence[str]]
"""Rows (as the trainer's model takes them, one per example) and their labels."""


class Trainer(Protocol):
    """What the retrain job needs of a registered trainer."""

    def base_data(self) -> tuple[list[Any], list[str]]:
        """The base training set: rows (as `train` takes them) and their labels."""
        ...

    def rows_of(self, inputs: Mapping[str, Mapping[str, Any]]) -> list[Any]:
        """A prediction record's model inputs as served (by name: ``{"datatype", "shape",
        "data"}``; after the endpoint's pre-steps, features looked up included) as training rows,
        one per row of the request."""
        ...

    def train(self, base: Labelled, corrections: Labelled) -> Any:
        """A fitted model that `berth.push` accepts (a scikit-learn pipeline, ...), from the base data
        (less the rows analysts corrected) and the analysts' corrections (gold labels, the hold-out
        excluded): how to weigh one against the other is the trainer's call."""
        ...

    def model_input(self, rows: Sequence[Any]) -> Any:
        """The rows as the fitted model's ``predict`` takes them (e.g. a DataFrame)."""
        ...

    def evaluation_data(self) -> tuple[list[Any], list[str]] | None:
        """A fixed test set the trainer owns (its versions' ``accuracy`` metric), or None."""
        ...

    def describe(self) -> dict[str, Any]:
        """``params`` and ``docs`` (a model card) for the versions it trains."""
        ...


@dataclass(frozen=True, slots=True)
class RetrainParams:
    """The ``retrain`` job's parameters, checked (`parse`)."""

    model: str
    trainer: str
    endpoint: str
    alias: str = "champion"
    challenger_alias: str = "challenger"
    margin: float = DEFAULT_MARGIN
    holdout_percent: int = DEFAULT_HOLDOUT_PERCENT
    min_holdout: int = DEFAULT_MIN_HOLDOUT
    trainer_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> RetrainParams:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(params) - known)
        if unknown:
            raise _bad(f"unknown parameters {unknown}; retrain takes {sorted(known)}")
        margin = params.get("margin", DEFAULT_MARGIN)
        if isinstance(margin, bool) or not isinstance(margin, int | float) or not math.isfinite(margin):
            raise _bad("'margin' must be a number (the accuracy the challenger must gain, e.g. 0.01)")
        if not -1.0 <= margin <= 1.0:
            raise _bad("'margin' must be in [-1, 1]")
        options = params.get("trainer_options", {})
        if not isinstance(options, Mapping):
            raise _bad("'trainer_options' must be an object")
        parsed = cls(
            model=_name(params, "model", None),
            trainer=_name(params, "trainer", None),
            endpoint=_name(params, "endpoint", None),
            alias=_name(params, "alias", "champion"),
            challenger_alias=_name(params, "challenger_alias", "challenger"),
            margin=float(margin),
            holdout_percent=_integer(params, "holdout_percent", DEFAULT_HOLDOUT_PERCENT, 1, 90),
            min_holdout=_integer(params, "min_holdout", DEFAULT_MIN_HOLDOUT, 1, 1_000_000),
            trainer_options={str(k): v for k, v in options.items()},
        )
        if parsed.alias == parsed.challenger_alias:
            raise _bad("'alias' and 'challenger_alias' must differ")
        return parsed

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "trainer": self.trainer,
            "endpoint": self.endpoint,
            "alias": self.alias,
            "challenger_alias": self.challenger_alias,
            "margin": self.margin,
            "holdout_percent": self.holdout_percent,
            "min_holdout": self.min_holdout,
            "trainer_options": dict(self.trainer_options),
        }


def _name(params: Mapping[str, Any], key: str, default: str | None) -> str:
    value = params.get(key, default)
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH:
        raise _bad(f"'{key}' is required: a non-empty name of at most {MAX_NAME_LENGTH} characters")
    return value


def _integer(params: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"'{key}' must be an integer in [{low}, {high}]")
    return value


def _bad(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_JOB_PARAMS, message)
