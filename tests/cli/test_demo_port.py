"""``berth demo`` (``make run``) on a port that is taken: it names that port and serves on a free one;
on its own port again after a restart."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from berth.cli.demo import serving_port
from berth.core.settings import Settings
from berth.wiring.server import build_server, create_asgi
from tests.support.servers import asgi_in_thread, free_port


def test_a_taken_port_is_named_and_a_free_one_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen = serving_port("127.0.0.1", port)
    assert chosen != port
    assert capsys.readouterr().out == f"port {port} is taken; using {chosen}\n"


def test_a_free_port_is_used_without_a_word(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert serving_port("127.0.0.1", port) == port
    assert capsys.readouterr().out == ""


def test_a_restart_with_a_browser_tab_open_serves_on_the_same_port(tmp_path: Path) -> None:
    """``make run`` stopped while a browser keeps a connection open, then started again: the closed
    connection waits out TIME_WAIT on the server's side, which must not make the port look taken."""
    settings = Settings(home=tmp_path / "home")
    port = serving_port("127.0.0.1", free_port())
    with httpx.Client(timeout=30) as browser:  # keeps its connection alive, as a tab does
        with asgi_in_thread(create_asgi(build_server(settings)), port) as url:
            assert browser.get(f"{url}/ui/").status_code == 200
        assert serving_port("127.0.0.1", port) == port  # the server has gone; the tab has not
        with asgi_in_thread(create_asgi(build_server(settings)), port) as url:
            assert browser.get(f"{url}/ui/").status_code == 200
