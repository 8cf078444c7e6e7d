"""Whether a skops file may be loaded without a maintainer's trust: read, never built.

`audit` reads the file as data only: the zip's central directory (member count and declared
sizes, so nothing inflates past a limit) and ``schema.json`` (bounded size and depth), and walks
every node of the schema. Each node names a loader and a type; the file passes only when every
(loader, type) pair is on berth's allow-list (`berth.runtime.flavors.skops_allowlist`), the
bit generators it names are real ones, and skops' own audit finds nothing beyond the list.
Nothing is imported or constructed until then, and the load that follows tells skops to trust
exactly the allow-listed types the file uses (never skops' defaults alone).

`check_trust` runs at push and at every load of a version not marked trusted, so a row pushed
under an older allow-list is re-checked against today's.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.base import TRUST_SWITCHES
from berth.runtime.flavors.failures import artifact_invalid
from berth.runtime.flavors.skops_allowlist import bit_generators, every_allowed_type, loader_types
from berth.runtime.flavors.skops_import import skops_io

SCHEMA = "schema.json"
CACHED = "CachedNode"


@dataclass(frozen=True, slots=True)
class SkopsLimits:
    """How big a skops file may unpack to, and how deep its object tree may nest."""

    max_members: int = 100_000
    max_total_bytes: int = 4 * 1024**3
    max_schema_bytes: int = 256 * 1024**2
    max_ratio: float = 1000.0
    ratio_floor_bytes: int = 1024 * 1024
    max_depth: int = 200


@dataclass(frozen=True, slots=True)
class Audit:
    """What a skops file needs: every type it names, and those berth does not allow by itself."""

    types: tuple[str, ...]
    unapproved: tuple[str, ...]
    skops_needs: tuple[str, ...] = ()
    """What skops' own audit asks to be trusted (e.g. a bound method's ``Class.name``)."""


def _invalid(path: Path, reason: str) -> BerthError:
    return BerthError(ErrorCode.ARTIFACT_INVALID, f"{path.name} is not a valid skops file: {reason}")


def _check_sizes(path: Path, archive: zipfile.ZipFile, limits: SkopsLimits) -> None:
    """Refuse a zip whose directory declares too many members, too many bytes or a zip bomb."""
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise _invalid(path, f"{len(infos)} members")
    if sum(i.file_size for i in infos) > limits.max_total_bytes:
        raise _invalid(path, "it unpacks to more than the limit")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise _invalid(path, f"member {info.filename!r} is compressed {ratio:.0f}:1")


def _check_inner_archives(path: Path, members: set[str], limits: SkopsLimits) -> None:
    """Sparse matrices are stored as ``.npz`` files, zips inside the zip: held to the same limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            for member in sorted(members):
                with zipfile.ZipFile(io.BytesIO(archive.read(member))) as inner:
                    _check_sizes(path, inner, limits)
    except BerthError:
        raise
    except (KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _invalid(path, f"unreadable sparse matrix ({exc})") from exc


def _read_schema(path: Path, limits: SkopsLimits) -> Any:
    try:
        with zipfile.ZipFile(path) as archive:
            _check_sizes(path, archive, limits)
            schema = archive.getinfo(SCHEMA)
            if schema.file_size > limits.max_schema_bytes:
                raise _invalid(path, f"{SCHEMA} is {schema.file_size} bytes")
            text = archive.read(schema)
    except BerthError:
        raise
    except (KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _invalid(path, str(exc)) from exc
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _invalid(path, f"unreadable {SCHEMA} ({type(exc).__name__})") from exc


def _nodes(path: Path, schema: Any, max_depth: int) -> Iterator[dict[str, Any]]:
    """Every node (a dict with a ``__loader__``) anywhere in the schema, depth-first, iteratively."""
    stack: list[tuple[Any, int]] = [(schema, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise _invalid(path, f"objects nested deeper than {max_depth}")
        if isinstance(value, dict):
            if "__loader__" in value:
                yield value
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _bit_generator(node: dict[str, Any]) -> str:
    """The bit generator a ``RandomGeneratorNode`` will call (numpy stores it as a JSON string)."""
    try:
        name = json.loads(node["content"]["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        return "numpy.random.<missing>"
    return f"numpy.random.{name}"


def _node_types(node: dict[str, Any]) -> tuple[str, list[str]]:
    """(type, types outside the allow-list) of one schema node."""
    loader, module, cls = node.get("__loader__"), node.get("__module__"), node.get("__class__")
    if not isinstance(loader, str) or not isinstance(module, str) or not isinstance(cls, str):
        return "<malformed node>", ["<malformed node>"]
    name = f"{module}.{cls}"
    if loader == CACHED:  # a reference to a node built earlier in the file: checked there
        return name, []
    refused = [] if name in loader_types().get(loader, frozenset()) else [name]
    if loader == "RandomGeneratorNode" and (generator := _bit_generator(node)) not in bit_generators():
        refused.append(generator)
    return name, refused


def audit(path: Path, limits: SkopsLimits | None = None) -> Audit:
    """Read the skops file at `path` (nothing in it is imported or built) and list its types."""
    limits = limits or SkopsLimits()
    schema = _read_schema(path, limits)
    if not isinstance(schema, dict) or "__loader__" not in schema:
        raise _invalid(path, f"{SCHEMA} holds no object")
    types: set[str] = set()
    refused: set[str] = set()
    npz_members: set[str] = set()
    for node in _nodes(path, schema, limits.max_depth):
        name, bad = _node_types(node)
        types.add(name)
        refused.update(bad)
        if node.get("__loader__") == "SparseMatrixNode" and isinstance(node.get("file"), str):
            npz_members.add(node["file"])
    _check_inner_archives(path, npz_members, limits)
    needs = _skops_view(path)  # parses, builds nothing; only once the walk above is done
    refused.update(t for t in needs if t not in every_allowed_type())
    return Audit(tuple(sorted(types)), tuple(sorted(refused)), tuple(sorted(needs)))


def _skops_view(path: Path) -> list[str]:
    """What skops' own audit (parsing, not building) finds beyond its defaults: a second opinion,
    should skops hide a type somewhere the walk above does not look."""
    with artifact_invalid(f"{path.name} is not a readable skops file"):
        return [str(t) for t in skops_io().get_untrusted_types(file=path)]


def check_trust(path: Path, *, trusted: bool) -> Audit:
    """The audit of a skops file; without `trusted`, refuse (UNTRUSTED_ARTIFACT) a file that needs
    a type berth does not allow by itself."""
    found = audit(path)
    if found.unapproved and not trusted:
        shown = ", ".join(found.unapproved[:20]) + (" …" if len(found.unapproved) > 20 else "")
        raise BerthError(
            ErrorCode.UNTRUSTED_ARTIFACT,
            f"{path.name} holds types berth does not load without a maintainer's trust: {shown}; "
            f"a maintainer may push it with {TRUST_SWITCHES} (audited) if they trust them",
            types=list(found.unapproved[:100]),
        )
    return found


def skops_trusted(found: Audit, *, trusted: bool) -> list[str]:
    """What to tell ``skops.io.load`` to trust: the file's types when a maintainer trusted it, else
    only those of its types on the allow-list (skops refuses anything else itself, a second lock)."""
    if trusted:
        return sorted(set(found.types) | set(found.skops_needs))
    allowed = every_allowed_type()
    return sorted(t for t in found.types if t in allowed)
