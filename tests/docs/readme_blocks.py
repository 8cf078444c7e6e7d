"""The shell and Python blocks of a Markdown file, and the commands in a shell block as a reader types them.

A ``console`` block (asked for by name) is a terminal shown: its commands are the ``$ `` lines (and
their ``\\`` continuations), each with the lines it prints after it as its shown output.

A command is one or more lines: a line ending in ``\\`` goes on, and so does a quote left open (a
JSON body over several lines). A comment line alone is not a command; one right after a command
whose text is JSON shows that command's output (``# {"predictions":["no"]}``).
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent> *)```(?P<language>[\w-]*)\s*$")
RUN_LANGUAGES = ("bash", "python")
PROMPT = "$ "


@dataclass(frozen=True)
class Command:
    text: str
    """As written (its continuation lines too), less the indentation of its block."""
    shown_output: object | None = None
    """The JSON the README shows it answers, from the comment line after it; None when none."""
    shown_text: str = ""
    """In a ``console`` block, the lines shown after it (its output as the doc prints it)."""


@dataclass(frozen=True)
class Block:
    language: str
    line: int
    """The line number of the opening fence."""
    text: str
    """The body, less the indentation of its fence."""

    @property
    def first_line(self) -> str:
        return next(line for line in self.text.splitlines() if line.strip())

    def commands(self) -> list[Command]:
        """The shell commands of the block, in order."""
        commands: list[Command] = []
        typing = _Typing(self.line)
        for line in self.text.splitlines():
            if not typing.started and (not line.strip() or line.lstrip().startswith("#")):
                output = _shown_output(line)
                if commands and output is not None and commands[-1].shown_output is None:
                    commands[-1] = Command(commands[-1].text, output)
                continue
            typed = typing.add(line)
            if typed is not None:
                commands.append(Command(typed))
        typing.finish()
        return commands

    def console_commands(self) -> list[Command]:
        """The ``$ `` commands of a ``console`` block, in order, each with the text shown after it."""
        typed: list[tuple[str, list[str]]] = []  # a command, the lines shown after it
        typing = _Typing(self.line)
        for line in self.text.splitlines():
            if not typing.started and not line.startswith(PROMPT):
                if not typed:
                    raise ValueError(f"line {self.line}: output before any command: {line!r}")
                typed[-1][1].append(line)
                continue
            command = typing.add(line.removeprefix(PROMPT) if not typing.started else line)
            if command is not None:
                typed.append((command, []))
        typing.finish()
        return [Command(text, shown_text="".join(f"{s}\n" for s in shown)) for text, shown in typed]


class _Typing:
    """The lines of one command as they are typed: `add` answers the command once it is complete."""

    def __init__(self, block_line: int) -> None:
        self._block_line = block_line
        self._lines: list[str] = []

    @property
    def started(self) -> bool:
        return bool(self._lines)

    def add(self, line: str) -> str | None:
        self._lines.append(line)
        text = "\n".join(self._lines)
        if not _complete(text):
            return None
        self._lines = []
        return text

    def finish(self) -> None:
        if self._lines:
            raise ValueError(f"line {self._block_line}: unfinished command {self._lines!r}")


def the_block(blocks: list[Block], starts: str) -> Block:
    """The one block of `blocks` whose first line starts with `starts`."""
    [found] = [b for b in blocks if b.first_line.startswith(starts)]
    return found


def readme_blocks(path: Path, languages: tuple[str, ...] = RUN_LANGUAGES) -> list[Block]:
    """The fenced blocks of `path` in `languages` (``bash`` and ``python`` unless told), in order
    (indented ones too)."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence_line = index  # 1-based
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index])
            index += 1
        index += 1
        if opening["language"] in languages:
            blocks.append(Block(opening["language"], fence_line, textwrap.dedent("\n".join(body))))
    return blocks


def _complete(text: str) -> bool:
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # a quote still open
        return False
    return True


def _shown_output(line: str) -> object | None:
    comment = line.strip().removeprefix("#").strip()
    if not comment.startswith(("{", "[")):
        return None
    try:
        shown: object = json.loads(comment)
    except ValueError:
        return None
    return shown
