"""The shell and Python blocks of a Markdown file, and the commands in a shell block as a reader types them.

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


@dataclass(frozen=True)
class Command:
    text: str
    """As written (its continuation lines too), less the indentation of its block."""
    shown_output: object | None = None
    """The JSON the README shows it answers, from the comment line after it; None when none."""


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
        pending: list[str] = []
        for line in self.text.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                output = _shown_output(line)
                if commands and output is not None and commands[-1].shown_output is None:
                    commands[-1] = Command(commands[-1].text, output)
                continue
            pending.append(line)
            text = "\n".join(pending)
            if _complete(text):
                commands.append(Command(text))
                pending = []
        if pending:
            raise ValueError(f"README line {self.line}: unfinished command {pending!r}")
        return commands


def readme_blocks(path: Path) -> list[Block]:
    """The fenced ``bash`` and ``python`` blocks of `path`, in order (indented ones too)."""
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
        if opening["language"] in RUN_LANGUAGES:
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
