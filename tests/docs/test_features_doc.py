"""docs/features.md's worked example runs as written, from an empty folder, against the machine's
Redis: the feature servers allowed, a home, the model trained and pushed by the doc's `train.py`,
the view declared and loaded from its CSV, the endpoint that looks features up, `berth serve`, and
the caller's three commands, each answering what the doc shows under it.

One line is not run: ``pip install 'berth-serving[redis]'`` (the project's environment is that
installation; the test checks that it has the Redis client). The doc's view writes its keys
(``berth:customer-profile:*``) into Redis database 0, as a reader's would; they are deleted after.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.docs.readme_blocks import readme_blocks, the_block
from tests.docs.terminal import Script, Terminal
from tests.support.redis import redis_address, redis_prefix
from tests.support.servers import free_port, wait_ready

FEATURES_DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"
DOC_REDIS = "127.0.0.1:6379"
VIEW_KEYS = "berth:customer-profile:*"


@pytest.fixture
def doc_view_keys_cleared() -> Iterator[None]:
    """The machine's Redis answers (or the test is skipped, failed under CI); the doc's keys are
    gone before and after."""
    with redis_prefix():
        client = redis.Redis.from_url(f"redis://{redis_address()}/0")
        try:
            _delete(client)
            yield
        finally:
            _delete(client)
            client.close()


def _delete(client: redis.Redis) -> None:
    keys = list(client.scan_iter(VIEW_KEYS, count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("doc_view_keys_cleared")
def test_the_worked_example_runs_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    blocks = readme_blocks(FEATURES_DOC)
    reader = Terminal(tmp_path, reader_env)
    if redis_address() != DOC_REDIS:
        reader.placeholders[DOC_REDIS] = redis_address()

    setup = Script(the_block(blocks, "pip install 'berth-serving[redis]'"))
    setup.next("pip install 'berth-serving[redis]'")  # this environment is that installation:
    assert importlib.util.find_spec("redis") is not None
    reader.export(setup.next("export BERTH_FEATURE_SOURCE_ALLOW=").text)
    reader.run(setup.next("mkdir bank && cd bank").text)
    bank = Terminal(tmp_path / "bank", reader.env, reader.placeholders)  # the `cd bank`
    bank.run(setup.next("berth init").text)
    (bank.folder / "train.py").write_text(the_block(blocks, "# train.py").text)
    bank.run(setup.next("python train.py").text)
    setup.done()

    declared = Script(the_block(blocks, "berth features create customer-profile"))
    bank.run(declared.next("berth features create customer-profile").text)
    bank.run(declared.next("berth features put customer-profile customers.csv").text)
    bank.run(declared.next("berth endpoint create bank-scoring").text)
    port = free_port()
    bank.placeholders["8080"] = str(port)  # the doc's port: a free one
    with bank.background(declared.next("berth serve --port 8080").text) as server:
        declared.done()
        wait_ready(f"http://127.0.0.1:{port}", timeout=180, process=server.process)
        calls_block = the_block(blocks, "curl -s localhost:8080/v2/models/bank-scoring/infer")
        calls = Script(calls_block)
        answer = json.loads(bank.run(calls.next("curl -s localhost:8080/v2/models/bank-scoring").text).out)
        [probabilities] = answer["outputs"]
        shown = re.search(r'"shape":\[2,2\],"data":\[([-0-9.,]+)\]', calls_block.text)
        assert shown is not None
        assert (probabilities["name"], probabilities["shape"]) == ("predict_proba", [2, 2])
        assert probabilities["data"] == pytest.approx([float(v) for v in shown[1].split(",")], abs=1e-4)
        assert answer["model_name"] == "bank-score"

        refused = bank.run(calls.next("berth predict bank-scoring").text, ok=False)
        [error_line] = [
            line for line in (refused.out + refused.err).splitlines() if line.startswith("error [")
        ]
        assert f"# {error_line}" in calls_block.text

        counted = bank.run(calls.next("curl -s localhost:8080/metrics | grep berth_feature_rows_total").text)
        lines = [line for line in counted.out.splitlines() if not line.startswith("#")]
        assert lines == [
            line.removeprefix("# ")
            for line in calls_block.text.splitlines()
            if line.startswith("# berth_feature_rows_total{")
        ]
        calls.done()
