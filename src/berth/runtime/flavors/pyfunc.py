"""The pyfunc flavor: any Python class, packaged with its code and data files.

The contract a class follows (no base class to inherit)::

    class SentimentModel:
        outputs = ("label", "score")          # optional; default ("predict",)

        def save(self, path: pathlib.Path) -> None:   # optional: write data files into `path`
            ...

        def load(self, path: pathlib.Path) -> None:   # `path`: the unpacked package folder
            ...

        def predict(self, inputs):            # array, DataFrame or dict of arrays (the layout)
            return {"label": ..., "score": ...}   # or a bare array: the output "predict"

The class is built with no arguments, then ``load`` is called once; ``predict`` may be called
from several threads at once.

The artifact is a ``.zip`` holding ``berth_pyfunc.json`` (``{"entry": "module:ClassName"}``),
the code files and the data files. `PyfuncFlavor.save_object` packages the source file of the
object's module (a single file: define the class in a module of its own, not in ``__main__`` or
a notebook) and calls ``save`` when the object has one. A folder holding ``berth_pyfunc.json``
can be pushed too (`berth.control.packaging.package_file` zips it); its modules import each other
with relative imports (``from .features import tokenize``).

Security: loading a pyfunc imports and runs its code, as unpickling does. `inspect_file` and
`load` therefore refuse it (UNTRUSTED_ARTIFACT) unless ``trusted=True``. The archive is unpacked
by `berth.runtime.flavors.archive.safe_extract` (no path tricks, no zip bombs) into a private
temporary folder, imported under a package name of its own without touching ``sys.path``.
``runtime_config``: ``entry``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.archive import safe_extract, write_zip
from berth.runtime.flavors.base import TRUST_SWITCHES, Packaged
from berth.runtime.flavors.code_import import entry_module_file, forget, import_entry, parse_entry
from berth.runtime.flavors.pyfunc_runtime import PyfuncRuntime
from berth.runtime.flavors.sniff import zip_members

MANIFEST = "berth_pyfunc.json"
ARCHIVE_SUFFIX = ".zip"
ARCHIVE_NAME = f"model{ARCHIVE_SUFFIX}"


def _refuse_untrusted(path: Path) -> None:
    raise BerthError(
        ErrorCode.UNTRUSTED_ARTIFACT,
        f"{path.name} is a pyfunc model: loading it runs its code. Push it with {TRUST_SWITCHES} "
        "if you trust that code",
    )


def read_manifest(folder: Path) -> str:
    """The entry (``module:ClassName``) of an unpacked pyfunc folder, checked to exist."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BerthError(ErrorCode.ARTIFACT_INVALID, f"unreadable {MANIFEST}: {exc}") from None
    entry = manifest.get("entry") if isinstance(manifest, dict) else None
    module, _ = parse_entry(entry)
    if entry_module_file(folder, module) is None:
        raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{MANIFEST} names module {module!r}, which is missing")
    return str(entry)


def _source_of(obj: Any) -> tuple[Path, str]:
    """(source file, entry) of the class of `obj`."""
    cls = type(obj)
    module = sys.modules.get(cls.__module__)
    source = None
    if module is not None and cls.__module__ != "__main__":
        try:
            source = inspect.getsourcefile(module)
        except TypeError:
            source = None
    if source is None or "." in cls.__qualname__:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"cannot package the code of {cls.__qualname__}: define it at the top level of a module "
            "file of its own (not in __main__ or a notebook)",
        )
    stem = Path(source).stem
    return Path(source), f"{stem}:{cls.__name__}"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _unpack(path: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="berth-pyfunc-"))
    try:
        safe_extract(path, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


class PyfuncFlavor:
    """Plain Python classes with ``load``/``predict``, shipped with their code (needs trust)."""

    name: ClassVar[str] = "pyfunc"
    file_suffixes: ClassVar[tuple[str, ...]] = (ARCHIVE_SUFFIX,)

    def matches_object(self, obj: Any) -> bool:
        if isinstance(obj, type):
            return False
        return callable(getattr(obj, "predict", None)) and callable(getattr(obj, "load", None))

    def save_object(self, obj: Any, folder: Path) -> Packaged:
        """Package the module file of `obj`'s class and its ``save`` output; marked trusted, as
        the pusher hands over their own code."""
        source, entry = _source_of(obj)
        stage = folder / "pyfunc"
        stage.mkdir(parents=True, exist_ok=False)
        shutil.copyfile(source, stage / source.name)
        (stage / MANIFEST).write_text(json.dumps({"entry": entry}), encoding="utf-8")
        save = getattr(obj, "save", None)
        if callable(save):
            try:
                save(stage)
            except Exception as exc:
                raise BerthError(
                    ErrorCode.ARTIFACT_INVALID, f"{type(obj).__name__}.save failed: {exc}"
                ) from exc
        path = write_zip(stage, folder / ARCHIVE_NAME)
        return Packaged(path, self.name, {"entry": entry}, trusted=True)

    def matches_file(self, path: Path) -> bool:
        if path.is_dir():
            return (path / MANIFEST).is_file()
        return path.suffix.lower() == ARCHIVE_SUFFIX and MANIFEST in zip_members(path)

    def inspect_file(self, path: Path, *, trusted: bool) -> Packaged:
        if not trusted:
            _refuse_untrusted(path)
        if path.is_dir():
            raise BerthError(
                ErrorCode.ARTIFACT_INVALID,
                f"{path} is a folder: zip it first (berth.control.packaging.package_file does)",
            )
        folder = _unpack(path)
        try:
            entry = read_manifest(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return Packaged(path, self.name, {"entry": entry}, trusted=True)

    def load(self, path: Path, runtime_config: dict[str, Any], *, trusted: bool) -> PyfuncRuntime:
        if not trusted:
            _refuse_untrusted(path)
        folder = _unpack(path)
        package = f"berth_pyfunc_{_digest(path)[:16]}_{secrets.token_hex(4)}"
        try:
            entry = read_manifest(folder)
            cls = import_entry(folder, entry, package)
            try:
                model = cls()
                model.load(folder)
            except Exception as exc:
                raise BerthError(
                    ErrorCode.MODEL_LOAD_FAILED, f"{entry} failed to load: {type(exc).__name__}: {exc}"
                ) from exc
        except BaseException:
            forget(package)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return PyfuncRuntime(model, folder, package)
