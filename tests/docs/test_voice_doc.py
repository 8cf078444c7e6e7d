"""docs/the-voice.md's commands run as written: the bootstrap "without the demo" on a fresh home
(from a folder where ``.venv`` is the project's environment, as the doc's repository root is), a
server on that home, then the inbox block: the message routed to card-security, listed there once
delivered, acknowledged, rerouted to cards, and the cards team's webhook set."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.docs.readme_blocks import readme_blocks, the_block
from tests.docs.terminal import Script, Terminal
from tests.support.servers import free_port, wait_ready

VOICE_DOC = Path(__file__).resolve().parents[2] / "docs" / "the-voice.md"
DELIVERY_TIMEOUT_S = 120.0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_bootstrap_and_the_inbox_run_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    blocks = readme_blocks(VOICE_DOC)
    reader = Terminal(tmp_path, reader_env)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the doc's commands run at the repository root
    bootstrap = Script(the_block(blocks, ".venv/bin/python -m the_voice.bootstrap"))
    reader.run(bootstrap.next(".venv/bin/python -m the_voice.bootstrap --home ./.berth").text)
    bootstrap.done()

    port = free_port()
    reader.placeholders["8080"] = str(port)
    reader.env["BERTH_PORT"] = str(port)
    [inbox_block] = [b for b in blocks if "berth inbox list card-security" in b.text]
    inbox = Script(inbox_block)
    assert "I lost my card" in inbox_block.text
    with reader.background("berth serve --home ./.berth") as server:
        wait_ready(f"http://127.0.0.1:{port}", timeout=180, process=server.process)
        answer = json.loads(reader.run(inbox.next("curl -s -X POST").text).out)
        outputs = {o["name"]: o["data"] for o in answer["outputs"]}
        assert outputs["team"] == ["card-security"]  # the rule's, whatever the model says

        listing = inbox.next("berth inbox list card-security").text
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while "I lost my card" not in (listed := reader.run(listing).out):
            assert time.monotonic() < deadline, f"not in the inbox after {DELIVERY_TIMEOUT_S} s:\n{listed}"
            time.sleep(0.5)
        [row] = [line.split() for line in listed.splitlines()[1:]]
        assert (row[0], row[2]) == ("1", "lost_or_stolen_card")

        reader.run(inbox.next("berth inbox ack card-security 1").text)
        reader.run(inbox.next("berth inbox reroute card-security 1 --to cards").text)
        settings = reader.run(inbox.next("berth inbox settings cards --webhook").text).out
        inbox.done()
        assert '"webhook_url": "https://hooks.bank.example/cards"' in settings
        rerouted = reader.run(f"berth inbox list cards --url http://127.0.0.1:{port}").out
        assert "I lost my card" in rerouted
        assert "from card-security" in rerouted  # delivered to cards; the label went back as feedback
        shown = reader.run(f"berth inbox list card-security --url http://127.0.0.1:{port}").out
        assert "I lost my card" in shown  # still there, marked acknowledged and rerouted
