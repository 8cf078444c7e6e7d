"""berth as a user installs it: the wheel built from this checkout, installed into a clean virtual
environment that has berth's runtime dependencies and nothing else (no dev tools, no extras).

The runtime dependencies are what the wheel itself declares, installed at the pinned versions
(constraints.txt) into a virtual environment that is built once and kept under
``~/.cache/berth-test/`` (``BERTH_TEST_CACHE``), keyed by those requirements, the pins and the
Python version; each run makes a fresh, empty environment that sees it through a ``.pth`` file,
then installs the wheel there with pip, from the wheel file alone (no index, no find-links): a
requirement the runtime environment does not meet fails the install instead of being fetched.
The installed berth then answers ``berth --version``, imports everything its code imports (what a
missing dependency would break only later, in a function), serves (migrations, the web app, the
API docs, gRPC), and names the extra to install when a setting needs one that is missing.
"""

from __future__ import annotations

import contextlib
import email
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import pytest

from berth.core.extras import DISTRIBUTION, EXTRAS
from berth.server.rest.docs_routes import docs_paths
from tests.support.servers import free_port, wait_ready

REPO: Final = Path(__file__).resolve().parents[2]
PYTHON_VERSION: Final = f"{sys.version_info.major}.{sys.version_info.minor}"
BASE_PYTHON: Final = Path(sys.base_prefix) / "bin" / f"python{PYTHON_VERSION}"
CACHE: Final = Path(os.environ.get("BERTH_TEST_CACHE", Path.home() / ".cache" / "berth-test"))
STALE_S: Final = 14 * 86400
"""A cached runtime environment unused this long is removed when another one is built."""
DEV_TOOLS: Final = {
    *("pytest", "mypy", "ruff", "hypothesis", "moto", "playwright", "import-linter", "setuptools", "skl2onnx")
}
EXTRA_LIBRARIES: Final = {module.split(".")[0] for modules in EXTRAS.values() for module in modules}
"""The top-level modules the extras bring (``opentelemetry`` is also the runtime's tracing API)."""


@dataclass(frozen=True)
class Wheel:
    path: Path
    metadata: email.message.Message
    names: frozenset[str]

    @property
    def runtime_requirements(self) -> list[str]:
        """Requires-Dist lines without an ``extra ==`` marker: what a plain install brings."""
        return [r for r in self.metadata.get_all("Requires-Dist", []) if "extra ==" not in r]


def run(argv: list[str | Path], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(a) for a in argv], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    """The wheel of this checkout, built from a copy of what a source distribution holds (so the
    checkout gets no build/ or egg-info folders), with the setuptools of the test set-up."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = work / "dist"
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    run([*pip, "-w", out, source])
    [built] = out.glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        names = frozenset(archive.namelist())
        [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    return Wheel(built, metadata, names)


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH (the checkout's src must not be seen), no pip configuration, no BERTH_*."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker or checkout building the same environment
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def runtime_env(wheel: Wheel) -> Path:
    """A virtual environment with exactly the wheel's runtime requirements at the pinned versions,
    built once per (requirements, pins, Python) and cached; built with the user's pip settings
    (the package index), like a user's install."""
    requirements = "\n".join(sorted(wheel.runtime_requirements)) + "\n"
    pins = (REPO / "constraints.txt").read_bytes()
    key = hashlib.sha256(requirements.encode() + pins + sys.version.encode()).hexdigest()[:16]
    root = CACHE / "runtime-venv"
    env = root / key
    ready = env / ".berth-ready"
    with locked(root / f"{key}.lock"):
        if not ready.exists():
            shutil.rmtree(env, ignore_errors=True)
            run([BASE_PYTHON, "-m", "venv", env])
            (env / "requirements.txt").write_text(requirements)
            pip = [env / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            user = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            pinned = ["-c", REPO / "constraints.txt", "-r", env / "requirements.txt"]
            run([*pip, *pinned], env=user, timeout=1200)
            run([env / "bin" / "python", "-m", "pip", "check"])
            ready.touch()
            _remove_stale(root, keep=env)
        os.utime(ready)
    return env


def _remove_stale(root: Path, keep: Path) -> None:
    for other in root.iterdir():
        marker = other / ".berth-ready"
        stale = marker.exists() and time.time() - marker.stat().st_mtime > STALE_S
        if other.is_dir() and other != keep and stale:
            shutil.rmtree(other, ignore_errors=True)


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{PYTHON_VERSION}" / "site-packages"


@pytest.fixture(scope="module")
def installed(wheel: Wheel, runtime_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment that sees the runtime environment's packages (a .pth file)
    and has the wheel installed by pip, from the wheel file only."""
    venv = tmp_path_factory.mktemp("clean") / "venv"
    run([BASE_PYTHON, "-m", "venv", "--without-pip", venv])
    (site_packages(venv) / "_berth_runtime.pth").write_text(f"{site_packages(runtime_env)}\n")
    python = venv / "bin" / "python"  # pip itself comes from the runtime environment
    run([python, "-m", "pip", "install", "-q", "--no-index", wheel.path], env=clean_env())
    return venv


# -- the wheel -----------------------------------------------------------------------------------


def test_the_wheel_is_berth_serving_with_runtime_dependencies_and_extras(wheel: Wheel) -> None:
    assert wheel.metadata["Name"] == DISTRIBUTION
    assert wheel.path.name.startswith("berth_serving-")
    requirements = {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in wheel.runtime_requirements}
    assert requirements.isdisjoint(DEV_TOOLS), requirements & DEV_TOOLS
    assert {"boto3", "nats-py", "psycopg", "torch", "opentelemetry-sdk", "pyspark"}.isdisjoint(requirements)
    assert {"fastapi", "fastapi-offline", "onnx", "onnxruntime", "scikit-learn"} <= requirements
    provided = set(wheel.metadata.get_all("Provides-Extra", []))
    assert {"s3", "nats", "postgres", "otlp", "torch", "spark", "dev"} <= provided
    assert set(EXTRAS) <= set(wheel.metadata.get_all("Provides-Extra", []))


def test_the_wheel_ships_every_file_of_the_package_and_no_tests(wheel: Wheel) -> None:
    source = REPO / "src" / "berth"
    shipped = {
        path.relative_to(source.parent).as_posix()
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    missing = sorted(shipped - wheel.names)
    assert missing == [], f"files of src/berth missing from the wheel: {missing}"
    for required in (
        "berth/py.typed",
        "berth/server/ui/index.html",
        "berth/storage/migrations/env.py",
        "berth/server/grpc/proto/berth_inference_pb2.py",
        "berth/server/grpc/proto/berth_inference_pb2_grpc.py",
    ):
        assert required in wheel.names, required
    assert any(n.startswith("berth/storage/migrations/versions/") for n in wheel.names)
    dist_info = f"berth_serving-{wheel.metadata['Version']}.dist-info"
    assert {name.split("/")[0] for name in wheel.names} == {"berth", dist_info}
    assert not [n for n in wheel.names if "/tests/" in n or n.startswith("tests/") or n.endswith(".pyc")]


# -- installed into a clean environment ----------------------------------------------------------


def test_the_console_script_answers_its_version(installed: Path, wheel: Wheel) -> None:
    version = run([installed / "bin" / "berth", "--version"], env=clean_env())
    assert version == f"berth, version {wheel.metadata['Version']}\n"
    where = run(
        [installed / "bin" / "python", "-c", "import berth; berth.Client; print(berth.__file__)"],
        env=clean_env(),
    )
    assert Path(where.strip()).is_relative_to(site_packages(installed))  # the wheel's, not the checkout's


def test_everything_berth_imports_is_a_runtime_dependency_or_an_extra(installed: Path) -> None:
    script = REPO / "tests" / "packaging" / "check_installed.py"
    report = json.loads(run([installed / "bin" / "python", script], env=clean_env(), timeout=300))
    assert Path(report["location"]).is_relative_to(site_packages(installed))
    missing = {name for name, ok in report["third_party"].items() if not ok}
    assert missing <= EXTRA_LIBRARIES, "imported by berth, yet neither a runtime dependency nor an extra"
    assert {"boto3", "botocore", "nats", "psycopg", "torch", "pyspark"} <= missing  # extras, not in the base
    # the modules that import an extra at their top (imported only where a setting names it);
    # nothing else fails to import
    assert set(report["failed_modules"]) == {
        "berth.dataplane.stream_recording",
        "berth.storage.s3_artifacts",
        "berth.storage.s3_exports",
        "berth.storage.s3_batch_data",
        "berth.storage.record_stream",
        "berth.storage.record_drain",
        "berth.storage.inbox_stream",
        "berth.storage.redis_features",
    }, report["failed_modules"]
    for label, error in report["missing_extra"].items():
        extra = label.split()[0]
        assert error.startswith("missing_extra: "), (label, error)
        assert f"pip install '{DISTRIBUTION}[{extra}]'" in error, (label, error)


def test_the_installed_berth_serves(installed: Path, tmp_path: Path) -> None:
    """Migrations, the web app, the API docs and gRPC, from the installed files."""
    port, grpc_port = free_port(), free_port()
    argv = [installed / "bin" / "berth", "serve", "--home", tmp_path / "home", "--port", port]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(a) for a in [*argv, "--grpc-port", grpc_port]],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, timeout=120, process=process)
            for path in ("/ui/", "/openapi.json", *docs_paths()):
                assert httpx.get(f"{url}{path}", timeout=30).status_code == 200, path
        finally:
            process.terminate()
            process.wait(30)
    output = log.read_text()
    assert re.search(rf"gRPC \(Open Inference Protocol V2\) on \S+:{grpc_port}\n", output), output


def test_a_setting_that_needs_a_missing_extra_names_it(installed: Path, tmp_path: Path) -> None:
    env = clean_env(BERTH_HOME=str(tmp_path / "home"), BERTH_ARTIFACT_URI="s3://models/berth")
    refused = subprocess.run(
        [str(installed / "bin" / "berth"), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0
    assert "missing_extra" in refused.stderr, refused.stderr
    assert f"pip install '{DISTRIBUTION}[s3]'" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr


def test_the_readme_installs_this_distribution(wheel: Wheel) -> None:
    """The README's install line names the distribution this wheel is, and extras it has (it is
    not run by tests/docs: the name is installed from PyPI; this wheel is what it installs)."""
    readme = (REPO / "README.md").read_text()
    lines = re.findall(r"pip install '?([\w.-]+)(?:\[([\w,]+)\])?'?", readme)
    assert lines, "the README has no pip install line"
    extras = set(wheel.metadata.get_all("Provides-Extra", []))
    for name, named_extras in lines:
        assert name == DISTRIBUTION
        assert set(filter(None, named_extras.split(","))) <= extras
