"""The PyTorch flavor: TorchScript modules (``torch.jit.save``, ``.pt``) and ``torch.export``
programs (``torch.export.save``, ``.pt2``), run by torch on CPU.

Objects: a ``torch.jit.ScriptModule`` is saved with ``torch.jit.save``; a plain
``torch.nn.Module`` is scripted first (``torch.jit.script``; trace or export a module that does
not script); a ``torch.export.ExportedProgram`` is saved with ``torch.export.save``. Never
``torch.save``: that file is a pickle of arbitrary Python, and berth refuses one whatever its
name (UNTRUSTED_ARTIFACT, trust or not: berth never calls ``torch.load`` but with
``weights_only=True``).

Trust: neither archive needs it once checked, and both are checked at every push and load.
A TorchScript archive is TorchScript source, tensors and pickles that torch's own C++ unpickler
reads (it builds tensors and TorchScript objects, never Python ones), so it runs TorchScript
operators, not Python; `berth.runtime.flavors.pytorch_script_checks` refuses the operators that
reach outside the tensors (files, other processes, TorchBind objects, foreign namespaces).
``torch.export.load`` does unpickle some payloads, link AOTInductor libraries and resolve node
targets by name, so `berth.runtime.flavors.pytorch_export_checks` reads the archive first and
lets through only JSON, raw tensors and aten operators. An archive refused by those checks can be
pushed with trust (audited), which skips them.

``runtime_config``: ``format`` ("torchscript" or "export"), ``inputs`` (the argument names) and
``outputs`` (``output-0``…); a program exported with a fixed batch dimension also gets
``batching: {"enabled": false}`` (merged batches would not fit it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, ClassVar

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.base import Packaged
from berth.runtime.flavors.failures import artifact_invalid
from berth.runtime.flavors.pytorch_export_checks import check_export_archive, check_program, export_root
from berth.runtime.flavors.pytorch_runtime import TorchRuntime, configure_threads, output_names, tensor_spec
from berth.runtime.flavors.pytorch_script_checks import check_script_graphs, check_script_source
from berth.runtime.flavors.sniff import zip_members

SCRIPT_SUFFIX = ".pt"
EXPORT_SUFFIX = ".pt2"


def _refuse_pickle(path: Path) -> BerthError:
    return BerthError(
        ErrorCode.UNTRUSTED_ARTIFACT,
        f"{path.name} is a torch.save file: a pickle, whose loading runs arbitrary code, and berth "
        "never loads one (trusted or not). Save the model with torch.jit.save or torch.export.save, "
        "or push the module object",
    )


class PyTorchFlavor:
    """TorchScript archives and torch.export programs, on CPU."""

    name: ClassVar[str] = "pytorch"
    file_suffixes: ClassVar[tuple[str, ...]] = (EXPORT_SUFFIX, SCRIPT_SUFFIX)

    def matches_object(self, obj: Any) -> bool:
        torch = sys.modules.get("torch")
        if torch is None or isinstance(obj, type):
            return False
        return isinstance(obj, torch.nn.Module | torch.export.ExportedProgram)

    def save_object(self, obj: Any, folder: Path) -> Packaged:
        import torch

        if isinstance(obj, torch.export.ExportedProgram):
            path = folder / f"model{EXPORT_SUFFIX}"
            check_program(path, obj)
            with artifact_invalid("cannot save the ExportedProgram"):
                torch.export.save(obj, path)
            return self.inspect_file(path, trusted=False)
        path = folder / f"model{SCRIPT_SUFFIX}"
        with artifact_invalid(
            f"cannot script {type(obj).__name__} (push torch.jit.trace(model, example) or "
            "torch.export.export(model, example) instead)"
        ):
            script = obj if isinstance(obj, torch.jit.ScriptModule) else torch.jit.script(obj)
            torch.jit.save(script, str(path))
        return self.inspect_file(path, trusted=False)

    def matches_file(self, path: Path) -> bool:
        suffix = path.suffix.lower()
        return suffix in self.file_suffixes and bool(zip_members(path))

    def inspect_file(self, path: Path, *, trusted: bool) -> Packaged:
        runtime, config = self._open(path, trusted=trusted)
        runtime.unload()
        return Packaged(path, self.name, config, trusted=trusted and not self._passes_checks(path))

    def load(self, path: Path, runtime_config: dict[str, Any], *, trusted: bool) -> TorchRuntime:
        runtime, _ = self._open(path, trusted=trusted)
        return runtime

    def _open(self, path: Path, *, trusted: bool) -> tuple[TorchRuntime, dict[str, Any]]:
        if not path.is_file():
            raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{path} is not a file")
        members = zip_members(path)
        if not members:
            raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{path.name} is not a readable zip archive")
        exported = export_root(path) is not None
        if not exported and not any("/code/" in m for m in members):
            if any(m.endswith("/data.pkl") for m in members):
                raise _refuse_pickle(path)
            raise BerthError(
                ErrorCode.ARTIFACT_INVALID,
                f"{path.name} is neither a TorchScript archive nor a torch.export archive",
            )
        if importlib.util.find_spec("torch") is None:
            raise BerthError(
                ErrorCode.UNSUPPORTED_FLAVOR,
                f"{path.name} is a PyTorch model and torch is not installed here: "
                "pip install 'berth-serving[torch]'",
            )
        configure_threads()
        return _open_export(path, trusted=trusted) if exported else _open_script(path, trusted=trusted)

    @staticmethod
    def _passes_checks(path: Path) -> bool:
        try:
            if export_root(path) is not None:
                check_export_archive(path)
            else:
                check_script_source(path)
        except BerthError as exc:
            if exc.code is ErrorCode.UNTRUSTED_ARTIFACT:
                return False
            raise
        return True


def _open_script(path: Path, *, trusted: bool) -> tuple[TorchRuntime, dict[str, Any]]:
    import torch

    if not trusted:
        check_script_source(path)
    with artifact_invalid(f"{path.name} is not a loadable TorchScript archive"):
        module = torch.jit.load(str(path), map_location="cpu").eval()
    if not trusted:
        check_script_graphs(path, module)
    schema = module.forward.schema
    arguments = [a for a in schema.arguments if a.name != "self"]
    not_tensors = [f"{a.name}: {a.type}" for a in arguments if str(a.type) != "Tensor"]
    if not_tensors or len(schema.returns) != 1:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"{path.name}: berth calls forward with tensors; it takes {not_tensors}",
        )
    returns = schema.returns[0].type
    count = _tensor_count(str(returns))
    if count is None:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"{path.name}: forward returns {returns}; berth serves a Tensor or a tuple of Tensors",
        )
    inputs = [a.name for a in arguments]
    outputs = output_names(count)
    config = {"format": "torchscript", "inputs": inputs, "outputs": list(outputs)}
    return TorchRuntime(module, inputs, outputs), config


def _tensor_count(type_name: str) -> int | None:
    if type_name == "Tensor":
        return 1
    if type_name.startswith("Tuple[") and type_name.endswith("]"):
        parts = [p.strip() for p in type_name[len("Tuple[") : -1].split(",")]
        if parts and all(p == "Tensor" for p in parts):
            return len(parts)
    return None


def _open_export(path: Path, *, trusted: bool) -> tuple[TorchRuntime, dict[str, Any]]:
    import torch

    if not trusted:
        check_export_archive(path)
    with artifact_invalid(f"{path.name} is not a loadable torch.export archive"), path.open("rb") as file:
        program = torch.export.load(file)  # a file, not a path: the store's names have no suffix
    if not trusted:
        check_program(path, program)
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    names = list(program.graph_signature.user_inputs)
    values = [placeholders[n].meta.get("val") for n in names]
    if not all(isinstance(v, torch.Tensor) for v in values):
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID, f"{path.name}: berth calls the program with tensors only"
        )
    specs = [tensor_spec(n, v.dtype, list(v.shape)) for n, v in zip(names, values, strict=True)]
    outputs = output_names(len(program.graph_signature.user_outputs))
    config: dict[str, Any] = {"format": "export", "inputs": names, "outputs": list(outputs)}
    if any(isinstance(v.shape[0], int) for v in values if v.dim()):
        config["batching"] = {"enabled": False}
    declared = [s for s in specs if s is not None] if all(s is not None for s in specs) else None
    with artifact_invalid(f"{path.name}: cannot build the program's module"):
        module = program.module()
    runtime = TorchRuntime(module, names, outputs, specs=declared, dtypes=[v.dtype for v in values])
    return runtime, config
