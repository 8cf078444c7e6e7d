"""docs/security.md's "Turning it on" runs as written, command by command, in a fresh folder: the
first admin token, the server with authentication on, the token exported, a team, a maintainer and
the maintainer's token; then what it turned on holds: the maintainer's token is refused nothing it
may read, no token is refused everything but the probes, and alice is maintainer of risk."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.docs.readme_blocks import readme_blocks, the_block
from tests.docs.teams import turned_on
from tests.docs.terminal import Script, Terminal

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_turning_it_on_runs_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    reader = Terminal(tmp_path, reader_env)
    script = Script(the_block(readme_blocks(SECURITY_DOC), "berth token create --admin"))
    with turned_on(reader, script) as url:
        created = reader.run(script.next("berth team create risk --url http://host:8080").text).out
        assert created == "team 'risk' created\n"
        added = reader.run(script.next("berth team add-member risk alice --role maintainer").text).out
        assert added == "'alice' is maintainer in team 'risk'\n"
        alice = reader.run(script.next("berth token create --principal alice").text).out.strip()
        script.done()
        assert alice.startswith("berth_")
        as_alice = {"authorization": f"Bearer {alice}"}
        members = httpx.get(f"{url}/api/v1/teams/risk/members", headers=as_alice, timeout=30)
        assert members.status_code == 200, members.text
        assert [(m["principal"], m["role"]) for m in members.json()] == [("alice", "maintainer")]
        assert httpx.get(f"{url}/api/v1/teams/risk/members", timeout=30).status_code == 401
        assert httpx.get(f"{url}/v2/health/ready", timeout=30).status_code == 200
