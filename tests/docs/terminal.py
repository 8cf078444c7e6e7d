"""A reader at a terminal: README commands run in bash as written, in the reader's folder.

What a reader fills in by hand is filled in the same way (`Terminal.fill`): the placeholders the
README names (``berth_...``, ``ID``, ``http://host:8080``) and the ports, which become free ones so
that tests never take 8080. Nothing else in a command is changed. Long-running commands (servers,
workers) run in the background, as in a second terminal, and are stopped with Ctrl-C (SIGINT to
their process group).
"""

from __future__ import annotations

import ast
import contextlib
import gc
import os
import re
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.docs.readme_blocks import Block, Command

COMMAND_TIMEOUT_S = 300.0  # one command on a busy 2-core machine
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Ran:
    out: str
    err: str


@dataclass
class Terminal:
    folder: Path
    env: dict[str, str]
    placeholders: dict[str, str] = field(default_factory=dict)
    """What the README writes -> what the reader types instead; longer ones are filled first."""

    def fill(self, command: str) -> str:
        for written in sorted(self.placeholders, key=len, reverse=True):
            start = r"(?<!\w)" if _wordy(written[0]) else ""
            end = r"(?!\w)" if _wordy(written[-1]) else ""
            command = re.sub(start + re.escape(written) + end, self.placeholders[written], command)
        return command

    def run(self, command: str, *, input: str | None = None, ok: bool = True) -> Ran:
        """Run `command` (filled in) to its end; with `ok`, it must succeed."""
        typed = self.fill(command)
        done = subprocess.run(
            ["bash", "-c", typed],
            cwd=self.folder,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        if ok and done.returncode != 0:
            raise AssertionError(f"{typed!r} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return Ran(done.stdout, done.stderr)

    def export(self, command: str) -> None:
        """An ``export NAME=VALUE`` line: the commands after it have it in their environment."""
        found = re.fullmatch(r"export (\w+)=(\S+)(\s+#.*)?", self.fill(command).strip())
        if found is None:
            raise AssertionError(f"not an export line: {command!r}")
        self.env[found[1]] = found[2]

    @contextlib.contextmanager
    def background(self, command: str, *, cwd: Path | None = None) -> Iterator[Background]:
        """`command` (filled in) running as in a second terminal; Ctrl-C when the block ends."""
        log = self.folder / f"background-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", self.fill(command)],
                cwd=cwd or self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        running = Background(process, log)
        try:
            yield running
        finally:
            running.stop()


@dataclass
class Background:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of `pattern` in the output, once it is there (fails if the process ends)."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output)
            if found is not None:
                return found
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode} before {pattern!r}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} after {timeout} s:\n{self.output}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Ctrl-C: SIGINT to the process group, then SIGKILL if it has not ended in time."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)
            raise AssertionError(
                f"did not stop on Ctrl-C within {STOP_TIMEOUT_S} s:\n{self.output}"
            ) from None


class Script:
    """The commands of one shell block, taken in README order; `done` checks that none was skipped."""

    def __init__(self, block: Block) -> None:
        self._block = block
        self._commands = iter(block.commands())

    def next(self, starts: str) -> Command:
        """The next command, which must start with `starts` (the test and the README agree)."""
        command = next(self._commands, None)
        if command is None or not command.text.startswith(starts):
            raise AssertionError(f"README line {self._block.line}: expected {starts!r}, found {command!r}")
        return command

    def done(self) -> None:
        left = list(self._commands)
        if left:
            raise AssertionError(f"README line {self._block.line}: commands no test runs: {left}")


class PythonSession:
    """The reader's Python prompt: blocks run one after another in one namespace, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.namespace: dict[str, Any] = {"__name__": "__main__"}

    def run(self, source: str) -> Any:
        """Run `source`; the value of its last line when that is an expression (as a prompt shows)."""
        tree = ast.parse(source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        with contextlib.chdir(self.folder), warnings.catch_warnings():
            # A reader's Python ignores ResourceWarning (its default filters), and the README's
            # one-line `berth.Client(url).predict(...)` leaves its connection to the collector.
            warnings.simplefilter("ignore", ResourceWarning)
            exec(compile(tree, "<README.md>", "exec"), self.namespace)
            value = None
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<README.md>", "eval"), self.namespace)
            gc.collect()
        return value


def _wordy(char: str) -> bool:
    return char.isalnum() or char == "_"
