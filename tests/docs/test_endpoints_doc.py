"""docs/endpoints.md's first block runs as written against a `berth serve`: an endpoint in front of
two versions of ``churn``, a sticky call, a canary and its rollback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

import berth
from tests.docs.readme_blocks import readme_blocks
from tests.docs.terminal import Script, Terminal
from tests.support.servers import free_port, wait_ready

ENDPOINTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "endpoints.md"
SERVER_TIMEOUT_S = 180.0


def _push_churn_versions(home: Path, versions: int) -> None:
    x = np.random.default_rng(3).normal(size=(80, 2))
    for n in range(versions):
        model = LogisticRegression(C=1.0 + n).fit(x, (x[:, 0] > 0).astype(int))
        berth.push(model, name="churn", home=home, input_example=x[:3])


def _show(reader: Terminal) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(
        reader.run("berth endpoint show retention --url http://127.0.0.1:8080").out
    )
    return shown


def test_the_endpoint_block_runs_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    reader = Terminal(tmp_path, reader_env)
    reader.run("berth init")
    _push_churn_versions(tmp_path / ".berth", versions=8)
    reader.run("berth alias set churn production 6 --home ./.berth")
    row = {"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0.5, -1.0]}
    (tmp_path / "request.json").write_text(json.dumps({"inputs": [row]}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    reader.env["BERTH_PORT"] = str(port)
    reader.placeholders["http://127.0.0.1:8080"] = url
    [block] = [b for b in readme_blocks(ENDPOINTS_DOC) if b.first_line.startswith("berth endpoint create")]
    script = Script(block)

    with reader.background("berth serve --home ./.berth") as server:
        wait_ready(url, timeout=SERVER_TIMEOUT_S, process=server.process)
        reader.run(script.next("berth endpoint create retention").text)
        created = _show(reader)
        assert [(v["target"], v["version"], v["share"]) for v in created["serving"]["variants"]] == [
            ("churn@production", 6, 0.9),
            ("churn:7", 7, 0.1),
        ], created
        assert created["sticky"] == {"header": "x-customer-id"}, created

        call = script.next("curl -s -X POST http://127.0.0.1:8080/v2/models/retention/infer")
        answers = [json.loads(reader.run(call.text).out) for _ in range(3)]
        # the doc shows this customer on the 10% arm, churn:7, and sticky: every call the same
        assert {(a["model_name"], a["model_version"]) for a in answers} == {("churn", "7")}, answers
        assert {json.dumps(a["parameters"], sort_keys=True) for a in answers} == {
            json.dumps({"endpoint": "retention", "variant": "churn:7"}, sort_keys=True)
        }
        assert answers[0]["outputs"], answers[0]

        reader.run(script.next("berth endpoint canary retention churn:8").text)
        canary = _show(reader)
        variants = {(v["target"], v["role"], v["version"]) for v in canary["serving"]["variants"]}
        assert ("churn:8", "canary", 8) in variants, canary
        reader.run(script.next("berth endpoint rollback retention").text)
        script.done()
        rolled_back = _show(reader)
        assert rolled_back["targets"] == created["targets"], rolled_back
        assert "churn:8" not in json.dumps(rolled_back), rolled_back
        answer = json.loads(reader.run(call.text).out)
        assert answer["parameters"]["variant"] in ("churn@production", "churn:7"), answer
