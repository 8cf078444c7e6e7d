"""The XGBoost flavor: XGBClassifier/XGBRegressor (scikit-learn API) and Booster objects, stored in
XGBoost's own UBJSON format (``.ubj``) or JSON (never pickle).

Outputs: classifiers (objectives ``binary:*``, ``multi:*``) ``predict`` (labels as trained) and
``predict_proba``; anything else ``predict``. Predictions use one thread each (the server
parallelises requests) and treat NaN as missing. ``runtime_config``: ``format`` ("ubj" or
"json"), ``objective``, ``classes`` (classifiers: recorded from the estimator at save time,
0..K-1 for a raw booster file).

XGBoost never parses the file itself: `berth.runtime.flavors.xgboost_checks` decodes and checks it
and hands XGBoost the checked model as JSON, at push and at every load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from berth.runtime.flavors.base import Packaged
from berth.runtime.flavors.failures import artifact_invalid
from berth.runtime.flavors.labels import labels_to_json
from berth.runtime.flavors.sniff import head
from berth.runtime.flavors.xgboost_checks import checked_json
from berth.runtime.flavors.xgboost_runtime import XGBoostRuntime, is_classifier_objective

SUFFIXES = {".ubj": "ubj", ".json": "json"}
_MARKER = b"learner"  # the first key of a saved XGBoost model, in JSON and in UBJSON
_JSON_SECOND_BYTES = (b'"', b" ", b"\n", b"\r", b"\t")  # UBJSON follows "{" with a type marker


def _objective(booster: Any) -> tuple[str, int]:
    """(objective name, number of classes) from a booster's configuration."""
    config = json.loads(booster.save_config())["learner"]
    n_classes = int(config["learner_model_param"].get("num_class", "0"))
    return str(config["objective"]["name"]), n_classes


def _classes(booster: Any, recorded: Any) -> list[Any] | None:
    objective, n_classes = _objective(booster)
    if not is_classifier_objective(objective):
        return None
    if isinstance(recorded, list) and recorded:
        return recorded
    return list(range(max(n_classes, 2)))


def _format(start: bytes) -> str:
    """ "json" or "ubj", from a model file's first bytes (UBJSON follows "{" with a type marker)."""
    return "json" if start[:1] == b"{" and start[1:2] in _JSON_SECOND_BYTES else "ubj"


def _load_booster(path: Path) -> Any:
    import xgboost

    with artifact_invalid(f"{path.name} is not a valid XGBoost model"):
        data = path.read_bytes()
        booster = xgboost.Booster()
        booster.load_model(bytearray(checked_json(data, _format(data))))
        booster.set_param({"nthread": 1})
        return booster


class XGBoostFlavor:
    """XGBoost models in XGBoost's native format."""

    name: ClassVar[str] = "xgboost"
    file_suffixes: ClassVar[tuple[str, ...]] = tuple(SUFFIXES)

    def matches_object(self, obj: Any) -> bool:
        if not type(obj).__module__.startswith("xgboost") or isinstance(obj, type):
            return False
        import xgboost

        if isinstance(obj, xgboost.Booster):
            return True
        return isinstance(obj, xgboost.XGBModel) and bool(obj.__sklearn_is_fitted__())

    def save_object(self, obj: Any, folder: Path) -> Packaged:
        import xgboost

        path = folder / "model.ubj"
        booster = obj if isinstance(obj, xgboost.Booster) else obj.get_booster()
        with artifact_invalid(f"cannot save {type(obj).__name__} in XGBoost format"):
            booster.save_model(str(path))
        recorded = getattr(obj, "classes_", None) if isinstance(obj, xgboost.XGBClassifier) else None
        objective, _ = _objective(booster)
        config: dict[str, Any] = {"format": "ubj", "objective": objective}
        classes = _classes(booster, labels_to_json(recorded) if recorded is not None else None)
        if classes is not None:
            config["classes"] = classes
        return Packaged(path, self.name, config)

    def matches_file(self, path: Path) -> bool:
        return path.suffix.lower() in SUFFIXES and _MARKER in head(path, 64)

    def inspect_file(self, path: Path, *, trusted: bool) -> Packaged:
        booster = _load_booster(path)
        objective, _ = _objective(booster)
        fmt = _format(head(path, 2))
        config: dict[str, Any] = {"format": fmt, "objective": objective}
        classes = _classes(booster, None)
        if classes is not None:
            config["classes"] = classes
        return Packaged(path, self.name, config)

    def load(self, path: Path, runtime_config: dict[str, Any], *, trusted: bool) -> XGBoostRuntime:
        booster = _load_booster(path)
        with artifact_invalid(f"{path.name} has an unreadable XGBoost configuration"):
            objective, _ = _objective(booster)
            classes = _classes(booster, runtime_config.get("classes"))
        return XGBoostRuntime(booster, objective, classes)
