"""The LightGBM flavor: LGBMClassifier/LGBMRegressor and Booster objects, stored as LightGBM's own
text model (``.txt``; never pickle).

Outputs: classifiers (objectives binary, multiclass, multiclassova) ``predict`` and
``predict_proba``; the rest ``predict``. A classifier's labels are recorded at save time; a
model file pushed as it is has none, so it answers 0/1 (binary, threshold 0.5) or the class
index (multiclass). Predictions use one thread and treat NaN as missing. ``runtime_config``:
``format`` ("text"), ``objective``, ``classes`` (classifiers saved from an estimator).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from berth.runtime.flavors.base import Packaged
from berth.runtime.flavors.failures import artifact_invalid
from berth.runtime.flavors.labels import labels_to_json
from berth.runtime.flavors.lightgbm_runtime import LightGBMRuntime, is_classifier_objective
from berth.runtime.flavors.lightgbm_text import check_model_text, looks_like_model
from berth.runtime.flavors.sniff import head

SUFFIX = ".txt"


def _load_booster(path: Path) -> Any:
    import lightgbm

    with artifact_invalid(f"{path.name} is not a valid LightGBM model"):
        text = path.read_text(encoding="utf-8")
        check_model_text(text)  # LightGBM aborts the process on some malformed trees
        return lightgbm.Booster(model_str=text)


def _objective(booster: Any) -> str:
    return str(booster.params.get("objective", "regression"))


class LightGBMFlavor:
    """LightGBM models in LightGBM's native text format."""

    name: ClassVar[str] = "lightgbm"
    file_suffixes: ClassVar[tuple[str, ...]] = (SUFFIX,)

    def matches_object(self, obj: Any) -> bool:
        if not type(obj).__module__.startswith("lightgbm") or isinstance(obj, type):
            return False
        import lightgbm

        if isinstance(obj, lightgbm.Booster):
            return True
        return isinstance(obj, lightgbm.LGBMModel) and bool(obj.__sklearn_is_fitted__())

    def save_object(self, obj: Any, folder: Path) -> Packaged:
        import lightgbm

        path = folder / f"model{SUFFIX}"
        booster = obj if isinstance(obj, lightgbm.Booster) else obj.booster_
        with artifact_invalid(f"cannot save {type(obj).__name__} as a LightGBM text model"):
            booster.save_model(str(path))
        objective = _objective(booster)
        config: dict[str, Any] = {"format": "text", "objective": objective}
        classes = getattr(obj, "classes_", None) if isinstance(obj, lightgbm.LGBMClassifier) else None
        if classes is not None and is_classifier_objective(objective):
            config["classes"] = labels_to_json(classes)
        return Packaged(path, self.name, config)

    def matches_file(self, path: Path) -> bool:
        return path.suffix.lower() == SUFFIX and looks_like_model(head(path, 4096))

    def inspect_file(self, path: Path, *, trusted: bool) -> Packaged:
        booster = _load_booster(path)
        return Packaged(path, self.name, {"format": "text", "objective": _objective(booster)})

    def load(self, path: Path, runtime_config: dict[str, Any], *, trusted: bool) -> LightGBMRuntime:
        booster = _load_booster(path)
        classes = runtime_config.get("classes")
        return LightGBMRuntime(booster, _objective(booster), classes if isinstance(classes, list) else None)
