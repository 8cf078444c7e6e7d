"""Loading several servers at once with wrk (``post_auth.lua`` reports ``WRKJSON`` lines): the
requests per second each one answered, in one round."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

LUA = Path(__file__).with_name("post_auth.lua")


def simultaneous_rates(
    urls: dict[str, str], payload: Path, connections: int, seconds: int
) -> dict[str, float]:
    """Requests/s each server in `urls` answered while wrk loaded them all at once (a failed request
    stops the bench)."""
    env = {**os.environ, "PAYLOAD": str(payload), "AUTHORIZATION": ""}
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(LUA)]
    runs = {
        name: subprocess.Popen(
            [*argv, f"{url}/v2/models/lr/infer"], stdout=subprocess.PIPE, text=True, env=env
        )
        for name, url in urls.items()
    }
    rates = {}
    for name, process in runs.items():
        out = process.communicate()[0]
        result = json.loads(
            next(x for x in out.splitlines() if x.startswith("WRKJSON ")).removeprefix("WRKJSON ")
        )
        if result["errors"]:
            raise RuntimeError(f"{result['errors']} failed requests")
        rates[name] = result["requests"] / (result["duration_us"] / 1e6)
    return rates
