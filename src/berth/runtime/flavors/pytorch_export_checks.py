"""What a ``torch.export`` archive (``torch.export.save``, a ``.pt2`` zip) may ask of the server,
checked before and after ``torch.export.load``.

``torch.export.load`` is not safe on any file: it unpickles (``torch.load(weights_only=False)``,
``pickle.loads``) the payloads an archive marks ``use_pickle`` (tensor subclasses) and its opaque
constants, builds TorchBind objects, loads AOTInductor shared libraries, retries its sample
inputs with ``weights_only=False`` when the safe unpickler refuses them, and resolves each graph
node's target by name from the ``torch`` module (``torch.os.system`` resolves). An archive that
torch.export.save writes for an ordinary module holds none of that: JSON (the program and the
payload configurations), raw tensor bytes, and the sample inputs as a ``torch.save`` file the
safe unpickler reads. So, before torch sees the file (UNTRUSTED_ARTIFACT unless a maintainer
vouches for it with trust; ARTIFACT_INVALID for a malformed one):

- members: one top folder holding only the layout below (no ``data/aotinductor/``, no legacy
  pickled weights, no custom or opaque objects), one program named ``model``;
- payload configurations: no entry with ``use_pickle``, every file a raw tensor;
- sample inputs: read here with ``torch.load(weights_only=True)``, so torch's own first attempt,
  on the same bytes, succeeds and never falls back;
- the program's JSON: every node's target an ``aten`` operator (not a denied one), a symbolic-size
  helper or ``_operator.getitem``, nested graphs (``cond``) included.

After loading, the in-memory program is walked again (`check_program`): the node targets as
objects, and every constant a plain tensor. A program pushed as an object is checked the same
way before it is saved.
"""

from __future__ import annotations

import io
import json
import operator
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.pytorch_script_checks import DENIED_OPERATORS, untrusted

ARCHIVE_FORMAT = b"pt2"
MAX_JSON_BYTES = 256 * 1024 * 1024
_FIXED_MEMBERS = frozenset(
    {
        "archive_format",
        "archive_version",
        "byteorder",
        ".data/serialization_id",
        ".data/version",
        "models/model.json",
        "data/weights/model_weights_config.json",
        "data/constants/model_constants_config.json",
        "data/sample_inputs/model.pt",
    }
)
_PAYLOAD_PREFIXES = {"data/weights/": "weight_", "data/constants/": "tensor_"}
_OPERATORS = "getitem add sub mul floordiv truediv mod pow neg pos abs eq ne lt le gt ge and_ or_ not_"
_SYMBOLIC_HELPERS = "sym_float sym_int sym_max sym_min sym_not sym_ite"
_SYMBOLIC_TARGETS = frozenset(f"_operator.{name}" for name in _OPERATORS.split()) | frozenset(
    f"torch.{name}" for name in _SYMBOLIC_HELPERS.split()
)
"""Python callables an exported graph may call: symbolic-size arithmetic, and tuple indexing."""
_HIGHER_ORDER = frozenset({"torch.ops.higher_order.cond", "torch.ops.higher_order.while_loop"})
_ATEN = "torch.ops.aten."


def _invalid(path: Path, reason: str) -> BerthError:
    return BerthError(ErrorCode.ARTIFACT_INVALID, f"{path.name}: {reason}")


def export_root(path: Path) -> str | None:
    """The top folder of a torch.export archive (the one holding ``archive_format``), or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) == 1:
        root = roots.pop()
        return root if f"{root}/archive_format" in names else None
    return None


def check_export_archive(path: Path) -> None:
    """Refuse a .pt2 archive that torch.export.load would unpickle, link or resolve code from."""
    import torch

    root = export_root(path)
    if root is None:
        raise _invalid(path, "not a torch.export archive (torch.export.save)")
    with zipfile.ZipFile(path) as archive:
        members = {n.split("/", 1)[1]: n for n in archive.namelist() if not n.endswith("/")}
        _check_layout(path, members)
        if archive.read(members["archive_format"]).strip() != ARCHIVE_FORMAT:
            raise _invalid(path, "its archive_format is not pt2")
        for folder, prefix in _PAYLOAD_PREFIXES.items():
            kind = folder.split("/")[1]
            config = _json(path, archive, members[f"{folder}model_{kind}_config.json"])
            _check_payloads(path, config, prefix)
        sample = archive.read(members["data/sample_inputs/model.pt"])
        if sample:
            try:
                torch.load(io.BytesIO(sample), weights_only=True)
            except Exception as exc:
                raise untrusted(
                    path, f"its sample inputs are not plain tensors ({type(exc).__name__})"
                ) from exc
        program = _json(path, archive, members["models/model.json"])
    for target in _targets(program):
        _check_target(path, target)


def _check_layout(path: Path, members: dict[str, str]) -> None:
    missing = sorted(m for m in _FIXED_MEMBERS - {"byteorder", ".data/serialization_id"} if m not in members)
    if missing:
        raise _invalid(path, f"missing {missing[0]} (not a torch.export archive of one program?)")
    for name in members:
        if name in _FIXED_MEMBERS or name.startswith("extra/"):
            continue
        folder, _, file = name.rpartition("/")
        prefix = _PAYLOAD_PREFIXES.get(folder + "/")
        if prefix is None or not file.startswith(prefix):
            raise untrusted(path, f"it holds {name!r}, which berth does not load (pickles, code, libraries)")


def _json(path: Path, archive: zipfile.ZipFile, member: str) -> Any:
    if archive.getinfo(member).file_size > MAX_JSON_BYTES:
        raise _invalid(path, f"{member} is larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(archive.read(member))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(path, f"{member} is not JSON: {exc}") from exc


def _check_payloads(path: Path, config: Any, prefix: str) -> None:
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise _invalid(path, "a payload configuration has no 'config' object")
    for name, entry in entries.items():
        if not isinstance(entry, dict) or entry.get("use_pickle") is not False:
            raise untrusted(path, f"{name!r} is stored as a pickle (a tensor subclass?)")
        if not str(entry.get("path_name", "")).startswith(prefix):
            raise untrusted(path, f"{name!r} is not a plain tensor")


def _targets(tree: Any) -> Iterator[str]:
    """The ``target`` of every node in the program's JSON, nested graphs included."""
    pending = [tree]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            target = item.get("target")
            if isinstance(target, str) and "inputs" in item and "outputs" in item:
                yield target
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _check_target(path: Path, target: str) -> None:
    if target.startswith(_ATEN):
        if target[len(_ATEN) :].split(".", 1)[0] in DENIED_OPERATORS:
            raise untrusted(path, f"it runs {target}, which reaches outside the tensors")
        return
    if target not in _SYMBOLIC_TARGETS and target not in _HIGHER_ORDER:
        raise untrusted(path, f"it calls {target!r}; berth runs aten operators only")


_PYTHON_CALLABLES = frozenset(
    {getattr(operator, t.split(".", 1)[1]) for t in _SYMBOLIC_TARGETS if t.startswith("_operator.")}
)


def check_program(path: Path, program: Any) -> None:
    """Refuse a loaded (or pushed) ExportedProgram whose graphs call anything but aten operators,
    symbolic-size helpers and ``cond``/``while_loop``, or that holds constants other than tensors."""
    import torch

    allowed = _PYTHON_CALLABLES | {
        getattr(torch, t.split(".", 1)[1], None) for t in _SYMBOLIC_TARGETS if t.startswith("torch.")
    }
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        for node in graph.nodes if graph is not None else ():
            if node.op in ("placeholder", "output", "get_attr"):
                continue
            if node.op != "call_function":
                raise untrusted(path, f"its graph has a {node.op} node")
            _check_callable(path, node.target, allowed)
    for name, value in {**program.constants, **program.state_dict}.items():
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            raise untrusted(path, f"its constant {name!r} is a {type(value).__name__}, not a tensor")


def _check_callable(path: Path, target: Any, allowed: frozenset[Any]) -> None:
    import torch

    if isinstance(target, torch._ops.OpOverload):
        name = target.name().split("::")[-1].split(".")[0]
        if target.namespace != "aten" or name in DENIED_OPERATORS:
            raise untrusted(path, f"it runs {target.name()}")
    elif isinstance(target, torch._ops.HigherOrderOperator):
        if f"torch.ops.higher_order.{target.name()}" not in _HIGHER_ORDER:
            raise untrusted(path, f"it runs {target.name()}")
    elif not any(target is known for known in allowed):
        raise untrusted(path, f"it calls {getattr(target, '__name__', target)!r}")
