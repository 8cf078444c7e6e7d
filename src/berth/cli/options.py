"""Options shared by the commands, and the parsing of their small argument languages."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from berth.cli.home import chosen_home
from berth.client.registry import Registry
from berth.client.sdk import open_registry
from berth.core.errors import BerthError, ErrorCode

F = TypeVar("F", bound=Callable[..., Any])


TOKEN_KEY = "berth.token"


def _keep_token(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[TOKEN_KEY] = value


def cli_token() -> str | None:
    """The ``--token`` given to the current command (else None: the client reads ``BERTH_TOKEN``)."""
    ctx = click.get_current_context(silent=True)
    token = ctx.meta.get(TOKEN_KEY) if ctx is not None else None
    return token if isinstance(token, str) else None


def token_option(fn: F) -> F:
    """``--token TOKEN``: the API token or JWT sent to a server (env BERTH_TOKEN)."""
    return click.option(
        "--token",
        envvar="BERTH_TOKEN",
        expose_value=False,
        callback=_keep_token,
        help="API token or JWT for --url (env BERTH_TOKEN).",
    )(fn)


def target_options(fn: F) -> F:
    """``--home DIR`` (the embedded registry) or ``--url URL`` (a running server, with ``--token``)."""
    fn = token_option(fn)
    fn = click.option(
        "--url",
        envvar="BERTH_URL",
        help="A running berth server, e.g. http://127.0.0.1:8080 (env BERTH_URL).",
    )(fn)
    fn = click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="BERTH_HOME",
        help="The embedded registry's home folder (env BERTH_HOME; default ./.berth, which must be"
        " there: berth init).",
    )(fn)
    return fn


@contextmanager
def registry(home: Path | None, url: str | None) -> Iterator[Registry]:
    home = chosen_home(home, url)
    reg = open_registry(home=home, url=url, token=cli_token())
    try:
        yield reg
    finally:
        reg.close()


def parse_pairs(pairs: tuple[str, ...], what: str) -> dict[str, str]:
    """``key=value`` options into a dict."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint=what)
        parsed[key] = value
    return parsed


def parse_metrics(pairs: tuple[str, ...]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in parse_pairs(pairs, "--metric").items():
        try:
            metrics[key] = float(value)
        except ValueError:
            raise click.BadParameter(f"{key}={value!r} is not a number", param_hint="--metric") from None
    return metrics


def parse_model_ref(text: str) -> tuple[str, str | None]:
    """``NAME``, ``NAME@ALIAS`` or ``NAME:VERSION`` into (name, reference)."""
    for sep in ("@", ":"):
        name, found, ref = text.partition(sep)
        if found:
            if not name or not ref:
                raise click.BadParameter(f"expected NAME, NAME@ALIAS or NAME:VERSION, got {text!r}")
            return name, ref
    return text, None


def read_json_arg(value: str) -> Any:
    """A JSON argument given inline, as ``@file``, or as ``-`` for standard input."""
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        text = Path(value[1:]).read_text()
    else:
        text = value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BerthError(ErrorCode.INVALID_JSON, f"not valid JSON: {exc}") from None


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def echo_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Rows as aligned columns; an empty list says so."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
