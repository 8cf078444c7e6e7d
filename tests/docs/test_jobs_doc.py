"""docs/jobs.md's trigger commands run as written, one after the other, in a fresh home."""

from __future__ import annotations

import json
from pathlib import Path

from tests.docs.readme_blocks import readme_blocks
from tests.docs.terminal import Terminal

JOBS_DOC = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"


def test_the_trigger_commands_run_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    reader = Terminal(tmp_path, reader_env)
    reader.run("berth init")
    [block] = [
        b for b in readme_blocks(JOBS_DOC) if b.first_line.startswith("berth trigger add nightly-score")
    ]
    for command in block.commands():
        reader.run(command.text)

    listed = json.loads(reader.run("berth trigger list --json").out)
    assert sorted(t["name"] for t in listed) == [
        "retrain-on-drift",
        "retrain-on-fixes",
    ]  # nightly-score deleted
    jobs = json.loads(reader.run("berth job list --json").out)
    assert [j["kind"] for j in jobs] == ["batch-score"]  # what `trigger fire` queued
