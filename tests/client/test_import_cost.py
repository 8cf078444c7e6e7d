"""What ``import berth`` and the CLI load: a thin client, never the platform.

A team that only calls ``berth.Client(url).predict(...)``, and every ``berth … --url`` command,
must not pay for the database, the engine or the server. Each case runs in a fresh interpreter
and pins the modules it has loaded afterwards (``sys.modules``); how long that takes is
measured by ``bench/import_bench.py``, never asserted here.

numpy is kept out of the thin path too: it costs about 0.15 s of CPU to import, half of what
``import berth`` may take, and nothing before the first tensor needs it. A client call that
sends tensors loads the codec, and with it numpy (``infer``) and pandas (``predict``, which
answers a DataFrame); the CLI sends ``berth predict --url`` JSON as it is, without either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import berth
from berth.control.packaging import package_object
from berth.core.settings import Settings
from berth.runtime.flavors.catalog import FlavorCatalog
from tests.conftest import Trained
from tests.support.servers import server_in_thread

PLATFORM = (
    "sqlalchemy",
    "alembic",
    "pyarrow",
    "pandas",
    "numpy",
    "scipy",
    "sklearn",
    "fastapi",
    "starlette",
    "uvicorn",
    "grpc",
    "berth.runtime",
    "berth.control",
    "berth.wiring",
    "berth.storage",
    "berth.server",
    "berth.client.embedded",
)
"""Packages the thin path never loads: the database, the numerics, the models, the server."""


def platform_in(modules: set[str], packages: tuple[str, ...] = PLATFORM) -> list[str]:
    """The modules of `modules` that belong to one of `packages`, sorted."""
    return sorted(m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages))


RECORD_MODULES = (
    "import atexit, json, sys\n"
    "def record_modules(path=sys.argv[1]):\n"
    "    with open(path, 'w') as f:\n"
    "        json.dump(sorted(sys.modules), f)\n"
    "atexit.register(record_modules)\n"
)
"""Prepended to each case: on exit, the interpreter writes the names of its modules to argv[1]."""


def loaded_by(code: str, tmp_path: Path) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (which must succeed)."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k not in {"BERTH_HOME", "BERTH_URL", "BERTH_TOKEN"}}
    done = subprocess.run(
        [sys.executable, "-c", RECORD_MODULES + code, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return set(json.loads(out.read_text()))


def cli_loads(tmp_path: Path, *args: str) -> set[str]:
    """The modules the ``berth`` command holds once it has run `args` (through its real `main`)."""
    return loaded_by(
        f"sys.argv = ['berth', *{list(args)!r}]\nfrom berth.cli.main import main\nmain()", tmp_path
    )


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[str]:
    """A real server on a free port whose home holds one pushed model, ``lr``."""
    home = tmp_path_factory.mktemp("import-cost") / "home"
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        berth.push(lr.model, name="lr", input_example=lr.x[:2], aliases=["production"], url=url)
        yield url


def test_import_berth_loads_no_platform_module(tmp_path: Path) -> None:
    modules = loaded_by("import berth\nassert all(hasattr(berth, n) for n in berth.__all__)", tmp_path)
    assert platform_in(modules) == []
    assert "pydantic_settings" not in modules  # Settings are read where a home is opened


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["models", "--help"], ["push", "--help"]])
def test_cli_version_and_help_load_no_platform_module(tmp_path: Path, args: list[str]) -> None:
    assert platform_in(cli_loads(tmp_path, *args)) == []


@pytest.mark.parametrize(
    "args",
    [
        ["models", "list"],
        ["models", "show", "lr"],
        ["models", "version", "lr", "production"],
        ["alias", "history", "lr"],
        ["predict", "lr", "--json", '{"instances": [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,'
         ' 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]}'],
        ["endpoint", "list"],
        ["job", "list"],
        ["trigger", "list"],
        ["records", "list"],
        ["alert", "list"],
        ["token", "list"],
    ],
)  # fmt: skip
def test_url_commands_load_no_platform_module(url: str, tmp_path: Path, args: list[str]) -> None:
    assert platform_in(cli_loads(tmp_path, *args, "--url", url)) == []


def test_pushing_an_artifact_file_to_a_server_loads_no_platform_module(
    url: str, tmp_path: Path, lr: Trained
) -> None:
    artifact = package_object(FlavorCatalog(), lr.model, tmp_path / "lr").path
    cli = cli_loads(tmp_path, "push", str(artifact), "--name", "lr-file", "--url", url)
    sdk = loaded_by(f"import berth\nberth.push({str(artifact)!r}, name='lr-file', url={url!r})", tmp_path)
    assert platform_in(cli) == []
    assert platform_in(sdk) == []


def test_a_client_loads_numpy_for_tensors_and_pandas_for_dataframes(url: str, tmp_path: Path) -> None:
    open_client = f"import berth\nclient = berth.Client({url!r})\n"
    described = loaded_by(open_client + "assert client.ready()\nclient.metadata('lr')", tmp_path)
    inferred = loaded_by(
        open_client
        + "import numpy as np\n"
        + "from berth.core.tensors import InferenceRequest, Tensor\n"
        + "x = np.zeros((1, 20), dtype=np.float32)\n"
        + "client.infer('lr', InferenceRequest([Tensor('input-0', 'FP32', (1, 20), x)]))",
        tmp_path,
    )
    predicted = loaded_by(open_client + "client.predict('lr', [[0.0] * 20])", tmp_path)
    assert platform_in(described) == []
    assert "numpy" in inferred
    assert [m for m in platform_in(inferred) if m.split(".")[0] != "numpy"] == []
    assert {"numpy", "pandas"} <= predicted  # predict answers a DataFrame
    assert not {"sqlalchemy", "berth.runtime", "berth.control", "berth.storage", "berth.server"} & predicted


SERVING = ("pandas", "sklearn", "scipy", "fastapi", "starlette", "uvicorn", "grpc", "alembic", "berth.server")
"""What a ``--home`` command that lists what a registry holds never needs: the numerics of models, the
server, and the migrations (the home is at the newest schema)."""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    made = tmp_path_factory.mktemp("import-cost-home") / "home"
    cli_loads(made.parent, "init", "--home", str(made))
    return made


@pytest.mark.parametrize(
    "args",
    [
        ["models", "list"],
        ["endpoint", "list"],
        ["team", "list"],
        ["job", "list"],
        ["trigger", "list"],
        ["records", "list"],
        ["alert", "list"],
        ["alert", "log"],
    ],
)  # fmt: skip
def test_home_listings_load_no_model_numerics_server_or_migrations(
    home: Path, tmp_path: Path, args: list[str]
) -> None:
    assert platform_in(cli_loads(tmp_path, *args, "--home", str(home)), SERVING) == []
