"""Import a pyfunc's packaged code from its unpacked folder, under a private package name.

The folder becomes a package of its own (``berth_pyfunc_<sha>_<token>``) through a module spec
whose ``submodule_search_locations`` is the folder: its modules import each other with relative
imports, two versions of the same code never collide, and ``sys.path`` is left alone.
`forget` removes the package and its modules from ``sys.modules`` when the version is unloaded.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path

from berth.core.errors import BerthError, ErrorCode

_ENTRY = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<cls>[A-Za-z_]\w*)$")


def parse_entry(entry: object) -> tuple[str, str]:
    """(module, class name) of an entry such as ``"model:SentimentModel"``."""
    match = _ENTRY.match(entry) if isinstance(entry, str) else None
    if match is None:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID, f"invalid pyfunc entry {entry!r}; expected 'module:ClassName'"
        )
    return match["module"], match["cls"]


def entry_module_file(folder: Path, module: str) -> Path | None:
    """The file of `module` inside `folder` (``a/b.py`` or ``a/b/__init__.py``), if there is one."""
    base = folder.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def import_entry(folder: Path, entry: str, package: str) -> type:
    """Import the class named by `entry` from `folder`, as package `package`."""
    module_name, class_name = parse_entry(entry)
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(package, init, submodule_search_locations=[str(folder)])
    else:
        spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
    if spec is None:
        raise BerthError(ErrorCode.MODEL_LOAD_FAILED, f"cannot make a package of {folder}")
    root = importlib.util.module_from_spec(spec)
    sys.modules[package] = root
    importlib.invalidate_caches()
    try:
        if spec.loader is not None:
            spec.loader.exec_module(root)
        module = importlib.import_module(f"{package}.{module_name}")
        cls = getattr(module, class_name)
    except Exception as exc:
        forget(package)
        raise BerthError(
            ErrorCode.MODEL_LOAD_FAILED, f"cannot import {entry!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(cls, type):
        forget(package)
        raise BerthError(ErrorCode.MODEL_LOAD_FAILED, f"{entry!r} is not a class")
    return cls


def forget(package: str) -> None:
    """Drop `package` and its submodules from ``sys.modules``."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        sys.modules.pop(name, None)
