"""`berth.extensions` is the one public module for extensions: its names, exactly, and its weight."""

from __future__ import annotations

import json
import subprocess
import sys

import berth.extensions

EXPORTED = [
    "BerthError",
    "CustomFunction",
    "ErrorCode",
    "Flavor",
    "InputLayout",
    "JobContext",
    "JobKind",
    "JobStopped",
    "JsonObject",
    "Labelled",
    "ModelInput",
    "ModelOutput",
    "Packaged",
    "Runtime",
    "TensorSpec",
    "Trainer",
]


def test_exports_exactly_the_extension_contracts() -> None:
    assert berth.extensions.__all__ == EXPORTED


def test_every_public_name_is_exported_and_the_list_is_sorted() -> None:
    public = sorted(name for name in vars(berth.extensions) if not name.startswith("_"))

    assert public == berth.extensions.__all__ == sorted(berth.extensions.__all__)


def test_importing_it_loads_no_server_database_or_framework() -> None:
    # what `import berth` itself loads is the root package's business: count what this module adds
    script = (
        "import json, sys\n"
        "import berth\n"
        "before = set(sys.modules)\n"
        "import berth.extensions\n"
        "print(json.dumps({'all': sorted(sys.modules), 'added': sorted(set(sys.modules) - before)}))\n"
    )
    found = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout)
    never = ("berth.server", "berth.dataplane", "berth.cli", "fastapi", "starlette", "uvicorn", "grpc")
    not_added = ("berth.storage", "sqlalchemy", "httpx", "click", "sklearn", "onnxruntime", "xgboost")

    assert [m for m in found["all"] if _within(m, never)] == []
    assert [m for m in found["added"] if _within(m, not_added)] == []


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)
