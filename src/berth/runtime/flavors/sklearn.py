"""The scikit-learn flavor: fitted estimators and pipelines, stored in skops format (never pickle).

- objects: any fitted scikit-learn estimator or Pipeline is saved in skops format (`write_skops`);
- files: a ``.skops`` file is read as data and checked type by type against an explicit allow-list
  before anything in it is built (`berth.runtime.flavors.skops_trust`), at push and at every load;
  the trees of a file loaded without trust are checked before they serve
  (`berth.runtime.flavors.fitted_state`); a pickle
  (``.pkl``/``.pickle``/``.joblib`` or the pickle opcode 0x80) runs code when loaded, so it is only
  accepted with ``trusted=True`` and is never opened to find out what it is.

Outputs: classifiers ``predict`` (labels as trained) and ``predict_proba`` ([N, n_classes]),
regressors ``predict``, transformers ``transform``. ``runtime_config``: ``format`` ("skops" or
"pickle"), ``skops_types`` (the types approved at push time), ``classes`` (classifiers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.base import TRUST_SWITCHES, Packaged
from berth.runtime.flavors.failures import artifact_invalid
from berth.runtime.flavors.fitted_state import check_fitted_state
from berth.runtime.flavors.labels import labels_to_json
from berth.runtime.flavors.sklearn_runtime import EstimatorRuntime
from berth.runtime.flavors.skops_import import skops_io
from berth.runtime.flavors.skops_trust import Audit, check_trust, skops_trusted
from berth.runtime.flavors.skops_write import write_skops
from berth.runtime.flavors.sniff import PICKLE_SUFFIXES, is_pickle, zip_members

SKOPS = "skops"
PICKLE = "pickle"
SKOPS_SUFFIX = ".skops"


def _is_fitted(estimator: Any) -> bool:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        return False
    return True


def _runtime_config(estimator: Any, fmt: str, approved: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {"format": fmt, "skops_types": approved}
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        config["classes"] = labels_to_json(classes)
    return config


def _check_estimator(obj: Any, path: Path) -> None:
    if not (hasattr(obj, "predict") or hasattr(obj, "transform")):
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"{path.name} holds a {type(obj).__name__}, which has neither predict nor transform",
        )


class SklearnFlavor:
    """scikit-learn estimators and pipelines (skops files; pickles only when trusted)."""

    name: ClassVar[str] = "sklearn"
    # a pickle is recognised by its first bytes whatever its name: .bin and .model are names
    # pickled models often carry
    file_suffixes: ClassVar[tuple[str, ...]] = (SKOPS_SUFFIX, *sorted(PICKLE_SUFFIXES), ".bin", ".model")
    fork_safe: ClassVar[bool] = True
    """Loading unpickles Python and NumPy objects and starts no native thread pool: a parent
    process may load it before forking its workers (`berth.runtime.preloaded`)."""

    def matches_object(self, obj: Any) -> bool:
        module = type(obj).__module__
        if not (module == "sklearn" or module.startswith("sklearn.")) or isinstance(obj, type):
            return False
        return hasattr(obj, "fit") and _is_fitted(obj)

    def save_object(self, obj: Any, folder: Path) -> Packaged:
        """Write `obj` as ``model.skops``. Types outside berth's allowlist (a custom transformer
        of the pusher's own) are recorded in ``skops_types`` and the artifact is marked trusted:
        the pusher handed berth that object from their own process."""
        if not self.matches_object(obj):
            raise BerthError(ErrorCode.UNSUPPORTED_FLAVOR, f"{type(obj).__name__} is not a fitted estimator")
        path = folder / f"model{SKOPS_SUFFIX}"
        with artifact_invalid(f"cannot save {type(obj).__name__} in skops format"):
            write_skops(obj, path)
        extra = list(check_trust(path, trusted=True).unapproved)
        return Packaged(path, self.name, _runtime_config(obj, SKOPS, extra), trusted=bool(extra))

    def matches_file(self, path: Path) -> bool:
        if is_pickle(path):
            return True
        return path.suffix.lower() == SKOPS_SUFFIX and "schema.json" in zip_members(path)

    def inspect_file(self, path: Path, *, trusted: bool) -> Packaged:
        if is_pickle(path):
            if not trusted:
                raise BerthError(
                    ErrorCode.UNTRUSTED_ARTIFACT,
                    f"{path.name} is a pickle: loading it runs arbitrary code. Save the model with "
                    f"skops (or push the object with the SDK), or push it with {TRUST_SWITCHES}",
                )
            estimator = self._load_pickle(path)
            _check_estimator(estimator, path)
            return Packaged(path, self.name, _runtime_config(estimator, PICKLE, []), trusted=True)
        found = check_trust(path, trusted=trusted)
        needs_trust = bool(found.unapproved)
        estimator = self._load_skops(path, found, trusted=needs_trust)
        _check_estimator(estimator, path)
        config = _runtime_config(estimator, SKOPS, list(found.unapproved))
        return Packaged(path, self.name, config, trusted=needs_trust)

    def load(self, path: Path, runtime_config: dict[str, Any], *, trusted: bool) -> EstimatorRuntime:
        fmt = runtime_config.get("format") or (SKOPS if zip_members(path) else PICKLE)
        if fmt == PICKLE:
            if not trusted:
                raise BerthError(
                    ErrorCode.UNTRUSTED_ARTIFACT, f"{path.name} is a pickle and was not pushed as trusted"
                )
            estimator = self._load_pickle(path)
        else:
            found = check_trust(path, trusted=trusted)  # today's allow-list, at every load
            estimator = self._load_skops(path, found, trusted=trusted)
        _check_estimator(estimator, path)
        return EstimatorRuntime(estimator, self.name)

    @staticmethod
    def _load_skops(path: Path, found: Audit, *, trusted: bool) -> Any:
        """Build a skops file `check_trust` let through. Without a maintainer's trust, skops is told
        to trust only the file's allow-listed types and the fitted trees are checked."""
        with artifact_invalid(f"cannot load {path.name} as a skops file"):
            estimator = skops_io().load(path, trusted=skops_trusted(found, trusted=trusted))
            if not trusted:
                check_fitted_state(estimator)
            return estimator

    @staticmethod
    def _load_pickle(path: Path) -> Any:
        """Unpickle a file the pusher trusted (joblib reads plain and compressed pickles)."""
        import joblib

        with artifact_invalid(f"cannot load {path.name} as a pickle"):
            return joblib.load(path)
