"""Virtual environments for the services the tests start from PyPI packages of their own (MLflow,
Feast: their pins clash with berth's), built once and cached under ``~/.cache/berth-test``
(``BERTH_TEST_CACHE`` overrides), keyed by the Python version and the pins."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.unavailable import unavailable


def cache_root() -> Path:
    return Path(os.environ.get("BERTH_TEST_CACHE") or Path.home() / ".cache" / "berth-test")


def cached_venv(name: str, packages: Sequence[str], *, install_timeout_s: float, must_run: str) -> Path:
    """The folder of the environment `name` with `packages` installed (built on first use, under a
    file lock so parallel test workers build it once); the tests in `must_run` are skipped when it
    cannot be built (they fail under CI=true)."""
    key = hashlib.sha256("\n".join((sys.version, *packages)).encode()).hexdigest()[:12]
    root = cache_root()
    folder = root / f"{name}-{key}"
    ready = folder / "ready"
    if ready.is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.is_file():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        python = str(folder / "bin" / "python")
        try:
            subprocess.run([base, "-m", "venv", str(folder)], check=True, capture_output=True, timeout=120)
            subprocess.run(
                [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
                check=True,
                capture_output=True,
                timeout=install_timeout_s,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            detail = getattr(exc, "stderr", b"") or b""
            unavailable(
                f"cannot build the {name} environment ({exc}): {detail[-2000:].decode(errors='replace')}",
                must_run=must_run,
            )
            raise AssertionError("unreachable") from exc
        ready.write_text("\n".join(packages) + "\n")
    return folder
