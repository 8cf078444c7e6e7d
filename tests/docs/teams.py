"""A server with authentication on, started as docs/security.md starts it, and the principals of
several teams that a doc's multi-team story needs.

`platform` runs ``berth init``, makes the first admin token and ``BERTH_AUTH=tokens berth serve``
in the reader's folder on a free port, and points the reader's commands at it (``BERTH_URL``; the
port the docs write, 8080, is filled in as the free one). `Platform.member` makes a team member and
their token the way docs/security.md does (as the platform admin); `Platform.as_principal` is the
reader exporting ``BERTH_TOKEN`` for the commands that follow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.docs.terminal import Script, Terminal
from tests.support.servers import free_port, wait_ready

SERVER_TIMEOUT_S = 180.0


@dataclass
class Platform:
    reader: Terminal
    url: str
    admin_token: str
    tokens: dict[str, str] = field(default_factory=dict)
    """Principal -> its token."""
    teams: set[str] = field(default_factory=set)

    def member(self, principal: str, team: str, role: str) -> str:
        """`principal` with `role` in `team` (made when missing); its token, made once."""
        self.as_principal("admin")
        if team not in self.teams:
            self.reader.run(f"berth team create {team}")
            self.teams.add(team)
        self.reader.run(f"berth team add-member {team} {principal} --role {role}")
        if principal not in self.tokens:
            self.tokens[principal] = self.reader.run(
                f"berth token create --principal {principal}"
            ).out.strip()
        return self.tokens[principal]

    def as_principal(self, principal: str) -> None:
        """``export BERTH_TOKEN=...`` of `principal` ('admin': the platform admin)."""
        self.reader.env["BERTH_TOKEN"] = self.admin_token if principal == "admin" else self.tokens[principal]


@contextlib.contextmanager
def platform(reader: Terminal) -> Iterator[Platform]:
    """A fresh home in the reader's folder served with authentication on; stopped at the end."""
    reader.run("berth init")
    admin_token = reader.run("berth token create --admin --home ./.berth").out.strip()
    assert admin_token.startswith("berth_"), admin_token
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    reader.env["BERTH_PORT"] = str(port)
    reader.placeholders["http://127.0.0.1:8080"] = url
    with reader.background("BERTH_AUTH=tokens berth serve --home ./.berth") as server:
        wait_ready(url, timeout=SERVER_TIMEOUT_S, process=server.process)
        reader.env["BERTH_URL"] = url
        yield Platform(reader, url, admin_token)


def write_model(path: Path) -> None:
    """A small scikit-learn classifier on two numbers, as skops: the ``model.skops`` docs push."""
    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(7).normal(size=(60, 2))
    skops.io.dump(LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)), path)


@contextlib.contextmanager
def turned_on(reader: Terminal, script: Script) -> Iterator[str]:
    """The first commands of "Turning it on" as README.md and docs/security.md write them, run as
    written: the first admin token, ``BERTH_AUTH=tokens berth serve --home ./.berth --host 0.0.0.0``
    (on a free port, the one the docs' ``host:8080`` names), the token exported. Yields the URL."""
    token_line = reader.run(script.next("berth token create --admin --home ./.berth").text)
    token = token_line.out.strip()
    assert token.startswith("berth_")
    assert "shown once" in token_line.err
    port = free_port()
    reader.placeholders.update({"berth_...": token, "host:8080": f"127.0.0.1:{port}"})
    url = f"http://127.0.0.1:{port}"
    reader.env["BERTH_PORT"] = str(port)
    with reader.background(
        script.next("BERTH_AUTH=tokens berth serve --home ./.berth --host 0.0.0.0").text
    ) as server:
        wait_ready(url, timeout=SERVER_TIMEOUT_S, process=server.process)
        assert f"Uvicorn running on http://0.0.0.0:{port}" in server.output
        assert "AUTHENTICATION IS OFF" not in server.output
        assert httpx.get(f"{url}/api/v1/models", timeout=30).status_code == 401
        reader.export(script.next("export BERTH_TOKEN=berth_...").text)
        assert reader.env["BERTH_TOKEN"] == token
        yield url
