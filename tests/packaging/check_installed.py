"""Run by the clean environment's Python (tests/packaging/test_wheel.py), not by pytest: what the
installed berth imports, with nothing but its runtime dependencies there.

Prints one JSON object:
- ``location``: where ``berth`` was imported from (the clean environment, not a checkout);
- ``third_party``: every top-level module that berth's code imports anywhere (in functions too; not
  under ``if TYPE_CHECKING:``), outside the standard library and berth, with whether it imports;
- ``failed_modules``: berth's modules that do not import, with the error (the migrations are
  alembic's scripts: the server runs them);
- ``missing_extra``: for each optional part, the error a setting that needs it gets.
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
import traceback
from pathlib import Path


def imported_names(tree: ast.AST) -> set[str]:
    """Top-level names of absolute imports, skipping ``if TYPE_CHECKING:`` blocks."""
    names: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return names


def importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def missing_extras() -> dict[str, str]:
    from berth.core.errors import BerthError
    from berth.core.settings import Settings
    from berth.wiring.implementations import (
        open_artifacts,
        open_batch_data,
        open_database,
        open_exports,
        record_stream,
    )
    from berth.wiring.tracing import open_tracing

    attempts = {
        "s3 artifacts": lambda: open_artifacts(Settings(artifact_uri="s3://bucket/models")),
        "s3 exports": lambda: open_exports(Settings(export_uri="s3://bucket/exports")),
        "s3 batch data": lambda: open_batch_data(Settings(batch_s3_allow="s3://bucket/data")),
        "nats": lambda: record_stream(Settings(record_sink="nats://127.0.0.1:4222/RECORDS")),
        "postgres": lambda: open_database("postgresql://berth@127.0.0.1:1/berth"),
        "otlp": lambda: open_tracing(Settings(otlp_endpoint="http://127.0.0.1:4318/v1/traces"), process="x"),
    }
    found = {}
    for label, attempt in attempts.items():
        try:
            attempt()
        except BerthError as exc:
            found[label] = f"{exc.code}: {exc}"
        else:
            found[label] = "no error"
    return found


def main() -> None:
    import berth

    package = Path(berth.__file__).parent
    names: set[str] = set()
    modules = []
    for path in sorted(package.rglob("*.py")):
        names |= imported_names(ast.parse(path.read_text(encoding="utf-8")))
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[:3] != ("berth", "storage", "migrations"):  # scripts alembic runs, not modules
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    third_party = sorted(n for n in names if n not in sys.stdlib_module_names and n != "berth")
    failed = {}
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:
            failed[module] = traceback.format_exc(limit=1).strip().splitlines()[-1]
    report = {
        "location": str(package),
        "third_party": {name: importable(name) for name in third_party},
        "failed_modules": failed,
        "missing_extra": missing_extras(),
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
