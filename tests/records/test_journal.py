"""The journal's files: lines with CRCs, torn and corrupt lines, rotation, the writer's flock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from berth.storage.journal import (
    JournalWriter,
    encode_line,
    read_lines,
    segment_start_ns,
    segments,
    try_lock,
)


def payloads(path: Path, offset: int = 0, *, gone: bool = True) -> list[bytes]:
    return [p for p, _ in read_lines(path, offset, writer_gone=gone).payloads]


def test_lines_read_back_in_order_with_offsets(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path)
    writer.append(encode_line(b'{"a":1}') + encode_line(b'{"a":2}'), sync=True)
    writer.append(encode_line(b'{"a":3}'), sync=False)
    path = writer.segment
    assert path is not None

    read = read_lines(path, 0, writer_gone=False)
    assert [p for p, _ in read.payloads] == [b'{"a":1}', b'{"a":2}', b'{"a":3}']
    assert read.offset == path.stat().st_size
    middle = read.payloads[0][1]
    assert payloads(path, middle) == [b'{"a":2}', b'{"a":3}']
    assert read_lines(path, 0, writer_gone=False, limit=2).offset == read.payloads[1][1]
    writer.close()


def test_a_torn_last_line_waits_for_a_live_writer_and_is_skipped_once_it_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "h-1-1-1.jrnl"
    whole = encode_line(b'{"a":1}')
    path.write_bytes(whole + encode_line(b'{"a":2}')[:-4])

    alive = read_lines(path, 0, writer_gone=False)
    assert ([p for p, _ in alive.payloads], alive.offset, alive.skipped) == ([b'{"a":1}'], len(whole), 0)
    gone = read_lines(path, 0, writer_gone=True)
    assert ([p for p, _ in gone.payloads], gone.offset, gone.skipped) == (
        [b'{"a":1}'],
        path.stat().st_size,
        1,
    )


@pytest.mark.parametrize(
    "bad",
    [
        b'deadbeef {"a":2}\n',  # wrong CRC
        b"not a journal line\n",
        b"\n",
        b'0000000z {"a":2}\n',
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\n",
    ],
)
def test_corrupt_lines_are_skipped_and_counted(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "h-1-1-1.jrnl"
    path.write_bytes(encode_line(b'{"a":1}') + bad + encode_line(b'{"a":3}'))

    read = read_lines(path, 0, writer_gone=True)

    assert [p for p, _ in read.payloads] == [b'{"a":1}', b'{"a":3}']
    assert read.skipped == 1
    assert read.offset == path.stat().st_size


def test_rotation_opens_a_new_segment_only_for_new_data(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, rotate_s=0.05)
    assert writer.rotate_if_due() is False  # nothing open
    writer.append(encode_line(b"1"), sync=False)
    first = writer.segment
    time.sleep(0.06)
    assert writer.rotate_if_due() is True
    assert writer.segment is None
    assert segments(tmp_path) == [first]  # no empty segment waits for data
    writer.append(encode_line(b"2"), sync=False)
    second = writer.segment
    assert second is not None
    assert second != first
    assert segments(tmp_path) == [first, second]
    assert segment_start_ns(second.name) is not None
    writer.close()


def test_a_segment_rotates_at_its_size_limit(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, max_bytes=100)
    for i in range(10):
        writer.append(encode_line(b'{"i":%d,"pad":"xxxxxxxxxxxxxxxxxxxxxx"}' % i), sync=False)
    writer.close()

    found = segments(tmp_path)
    assert len(found) >= 3
    assert sum(len(payloads(p)) for p in found) == 10
    assert all(p.stat().st_size <= 100 + 60 for p in found)


def test_the_writer_holds_the_lock_until_it_closes(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path)
    writer.append(encode_line(b"1"), sync=False)
    path = writer.segment
    assert path is not None
    fd = os.open(path, os.O_RDONLY)
    try:
        assert try_lock(fd) is False
        writer.close()
        assert try_lock(fd) is True
    finally:
        os.close(fd)


def test_the_lock_is_released_when_the_writer_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from berth.storage.journal import JournalWriter, encode_line
        writer = JournalWriter(Path({str(tmp_path)!r}))
        writer.append(encode_line(b"1") + b"0000 torn", sync=True)
        print(writer.segment, flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        path = Path(child.stdout.readline().strip())
        fd = os.open(path, os.O_RDONLY)
        try:
            assert try_lock(fd) is False
            child.kill()
            child.wait()
            assert try_lock(fd) is True
        finally:
            os.close(fd)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        assert child.stdout is not None
        child.stdout.close()
    read = read_lines(path, 0, writer_gone=True)
    assert ([p for p, _ in read.payloads], read.skipped) == ([b"1"], 1)


def test_background_sync_flushes_only_what_was_written_and_never_races_a_close(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path)
    assert writer.sync() is False  # no segment yet
    writer.append(encode_line(b'{"a":1}'), sync=False)
    assert writer.sync() is True
    assert writer.sync() is False  # nothing new since
    stop = threading.Event()

    def syncing() -> None:
        while not stop.is_set():
            writer.sync()

    thread = threading.Thread(target=syncing)
    thread.start()
    try:
        for n in range(200):  # appends and closes (rotations) while another thread syncs
            writer.append(encode_line(b'{"n":%d}' % n), sync=False)
            if n % 20 == 0:
                writer.close()
    finally:
        stop.set()
        thread.join()
        writer.close()
    lines = sum(len(read_lines(p, 0, writer_gone=True).payloads) for p in segments(tmp_path))
    assert lines == 201
