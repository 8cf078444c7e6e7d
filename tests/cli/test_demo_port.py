"""``berth demo`` (``make run``) on a port that is taken: it names that port and serves on a free one."""

from __future__ import annotations

import socket

import pytest

from berth.cli.demo import serving_port
from tests.support.servers import free_port


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
