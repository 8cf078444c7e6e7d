"""Steps shared by the end-to-end suites: OIP request bodies, polling with a deadline, the server's PID."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import numpy as np

from tests.support.servers import berth_executable

T = TypeVar("T")


def tensor_request(
    x: np.ndarray[Any, Any], datatype: str = "FP32", name: str = "input-0", **extra: Any
) -> dict[str, Any]:
    """An OIP request with one tensor `name` holding `x`."""
    return {
        "inputs": [{"name": name, "shape": list(x.shape), "datatype": datatype, "data": x.ravel().tolist()}],
        **extra,
    }


def infer(url: str, model: str, body: Any, ref: str | None = None, timeout: float = 30) -> httpx.Response:
    path = f"/v2/models/{model}/infer" if ref is None else f"/v2/models/{model}/versions/{ref}/infer"
    return httpx.post(url + path, json=body, timeout=timeout)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.05) -> T:
    """Call `probe` until it returns something other than None (or False); fail after `timeout` s.

    The timeout bounds a failure, it times nothing: what is awaited often includes another process
    loading a model, which a loaded machine makes many times slower (15 s was too short in CI)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last is not False:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not seen within {timeout}s (last probe: {last!r})")


def served_version(url: str, model: str, body: Any, ref: str | None = None) -> str | None:
    """The version that answers `body` on `model` (at `ref`), or None when the answer is not a 200."""
    response = infer(url, model, body, ref)
    return response.json()["model_version"] if response.status_code == 200 else None


def server_pid(url: str) -> int:
    """The PID of the `berth serve` process listening on `url`'s port (Linux: read from /proc)."""
    port = str(urlsplit(url).port)
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if (
            "serve" in args
            and "--port" in args
            and args[args.index("--port") + 1 : args.index("--port") + 2] == [port]
        ):
            found.append(int(cmdline.parent.name))
    if len(found) != 1:
        raise AssertionError(f"expected one `berth serve` on port {port}, found PIDs {found}")
    return found[0]


def berth_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Run the ``berth`` command in its own process; its standard output (fails on a non-zero exit)."""
    done = subprocess.run(
        [berth_executable(), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def assert_error(response: httpx.Response, status: int, *codes: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] in codes, body
    assert isinstance(body["error"], str)
    assert body["error"]
