"""docs/features.md's offline-history commands run as written, in a fresh home: the history written
by the doc's script, the view declared with it, a worker, then materialize --wait and get. (Its
training-set command reads the worked example's endpoint, served with Redis: tests/records/
test_point_in_time.py makes training sets with joins over a server and a home.)"""

from __future__ import annotations

import json
from pathlib import Path

from tests.docs.readme_blocks import readme_blocks
from tests.docs.terminal import Terminal

FEATURES_DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_the_materialize_commands_run_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    reader = Terminal(tmp_path, reader_env)
    reader.run("berth init")
    blocks = readme_blocks(FEATURES_DOC)
    [script] = [b for b in blocks if b.first_line.startswith("# history.py")]
    (tmp_path / "history.py").write_text(script.text)
    [setup] = [b for b in blocks if b.first_line == "python history.py"]
    [following] = [
        b for b in blocks if b.first_line.startswith("berth features materialize customer-balance")
    ]
    *declare, worker = setup.commands()
    assert worker.text.startswith("berth worker")
    for command in declare:
        reader.run(command.text)
    materialize, get, training_set = following.commands()
    assert training_set.text.startswith("berth features training-set bank-scoring")
    with reader.background(worker.text):
        done = reader.run(materialize.text)
    assert "job 1 queued (features-materialize customer-balance)" in done.out
    assert "wrote 2 entities to customer-balance (as of " in done.out
    online = json.loads(reader.run(get.text).out)
    assert {k: v["values"] for k, v in online.items()} == {
        "c-7": {"balance": 80.0, "segment": "retail"},  # the later of its two rows
        "c-42": {"balance": 5400.0, "segment": "private"},
    }
