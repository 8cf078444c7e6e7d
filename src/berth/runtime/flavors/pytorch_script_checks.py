"""What a TorchScript archive (``torch.jit.save``) may ask of the server, checked before and after
``torch.jit.load``.

A TorchScript archive is a zip of TorchScript source (``code/*.py``), tensors, and pickles
(``data.pkl``, ``constants.pkl``) that torch reads with its own C++ unpickler: that one builds
tensors, containers and TorchScript objects only, and never imports or calls Python. Loading
compiles the source and may run TorchScript (a ``__setstate__``); predicting runs its graph. So
what an archive can do is what TorchScript operators can do, and most of them only compute. Not
all: ``aten::from_file`` reads a file named by the model, ``aten::save`` writes one, the
``prim::rpc_*`` operators call other processes, TorchBind classes (``torch.classes.*``) are native
objects with their own powers, and operators outside the ``aten`` and ``prim`` namespaces come
from whatever libraries the process loaded. Those are refused (UNTRUSTED_ARTIFACT: a maintainer
may vouch for the archive with trust, which skips these checks):

- before loading, the source text, conservatively: a denied operator's name anywhere (in a string
  too: ``getattr`` takes one), any other operator namespace (or ``classes``, TorchBind's) named
  as an attribute (``ops.quantized``, ``x.classes``) or in a string (``getattr(o, "c10d")``);
- after loading, the compiled graph of every method of every submodule: each node's operator
  namespace and name, and each value's type.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.base import TRUST_SWITCHES

ALLOWED_NAMESPACES = frozenset({"aten", "prim"})
"""Operator namespaces a TorchScript graph may use without trust."""
DENIED_OPERATORS = frozenset({"from_file", "save", "rpc_async", "rpc_sync", "rpc_remote", "PythonOp"})
"""Operators of those namespaces that reach outside the tensors: files, other processes, Python."""
TORCHBIND_PREFIX = "__torch__.torch.classes."
MAX_SOURCE_BYTES = 64 * 1024 * 1024

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ATTRIBUTE = re.compile(r"\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_STRING = re.compile(r"\"([A-Za-z_][A-Za-z0-9_]*)\"|'([A-Za-z_][A-Za-z0-9_]*)'")


@functools.cache
def refused_namespaces() -> frozenset[str]:
    """Every operator namespace torch has registered but `ALLOWED_NAMESPACES`, and ``classes``."""
    import torch

    found = {schema.name.partition("::")[0] for schema in torch._C._jit_get_all_schemas()}
    return frozenset(found - ALLOWED_NAMESPACES) | {"classes"}


def untrusted(path: Path, reason: str) -> BerthError:
    return BerthError(
        ErrorCode.UNTRUSTED_ARTIFACT,
        f"{path.name}: {reason}; berth serves TorchScript and torch.export programs that only "
        f"compute on tensors, unless a maintainer pushes it with {TRUST_SWITCHES} (audited)",
    )


def script_members(path: Path) -> list[zipfile.ZipInfo]:
    """The members of a TorchScript archive: one top folder holding ``data.pkl`` and ``code/``
    (ARTIFACT_INVALID otherwise)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{path.name} is not a zip archive: {exc}") from exc
    roots = {info.filename.split("/", 1)[0] for info in infos}
    names = {info.filename.split("/", 1)[-1] for info in infos}
    if len(roots) != 1 or "data.pkl" not in names or not any(n.startswith("code/") for n in names):
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID, f"{path.name} is not a TorchScript archive (torch.jit.save)"
        )
    return infos


def check_script_source(path: Path) -> None:
    """Refuse (UNTRUSTED_ARTIFACT) a TorchScript archive whose source could reach outside its
    tensors; checked on the text, before torch compiles or runs any of it."""
    infos = [i for i in script_members(path) if "/code/" in i.filename and i.filename.endswith(".py")]
    if sum(i.file_size for i in infos) > MAX_SOURCE_BYTES:
        raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{path.name}: more than 64 MiB of TorchScript source")
    with zipfile.ZipFile(path) as archive:
        for info in infos:
            text = archive.read(info).decode("utf-8", errors="replace")
            _check_text(path, info.filename, text)


def _check_text(path: Path, member: str, text: str) -> None:
    denied = sorted(DENIED_OPERATORS.intersection(_WORD.findall(text)))
    if denied:
        raise untrusted(path, f"{member} names operator {denied[0]!r}, which reaches outside the tensors")
    named = set(_ATTRIBUTE.findall(text))
    named.update(a or b for a, b in _STRING.findall(text))
    refused = sorted(named & refused_namespaces())
    if refused:
        what = "TorchBind classes" if refused[0] == "classes" else f"operators of namespace {refused[0]!r}"
        raise untrusted(path, f"{member} uses {what}")


def _nodes(block: Any) -> Iterator[Any]:
    for node in block.nodes():
        yield node
        for inner in node.blocks():
            yield from _nodes(inner)


def _graphs(module: Any) -> Iterator[tuple[str, Any]]:
    for prefix, sub in module.named_modules():
        for name in sub._c._method_names():
            yield f"{prefix or 'model'}.{name}", sub._c._get_method(name).graph


def check_script_graphs(path: Path, module: Any) -> None:
    """Refuse (UNTRUSTED_ARTIFACT) a loaded ScriptModule whose graphs use an operator outside the
    allowed namespaces, a denied operator or a TorchBind object."""
    for method, graph in _graphs(module):
        for node in _nodes(graph):
            namespace, _, name = node.kind().partition("::")
            if namespace not in ALLOWED_NAMESPACES or name in DENIED_OPERATORS:
                raise untrusted(path, f"{method} runs operator {node.kind()!r}")
            for value in node.outputs():
                if TORCHBIND_PREFIX in str(value.type()):
                    raise untrusted(path, f"{method} uses a TorchBind object ({value.type()})")
