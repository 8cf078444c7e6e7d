"""The ONNX flavor: ``.onnx`` graphs and ``onnx.ModelProto`` objects, served by onnxruntime.

Inputs come from the graph inputs (one input: layout ``tensor``, several: ``tensors``); outputs
are the graph outputs by name, all returned by default. A classifier converted by skl2onnx with a
ZipMap gives its probabilities as a float array [N, n_classes]. ``runtime_config``: ``format``
("onnx"), ``inputs`` and ``outputs`` (the graph's names).

Every push and every load parses the file and checks it (`berth.runtime.flavors.onnx_checks`: no
external data, no custom-op domains) before onnxruntime is handed its bytes (never its path, so
onnxruntime resolves nothing relative to the artifact's folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.base import Packaged
from berth.runtime.flavors.failures import artifact_invalid
from berth.runtime.flavors.onnx_checks import parse_and_check
from berth.runtime.flavors.onnx_runtime import OnnxRuntime, session_options
from berth.runtime.flavors.sniff import head

ONNX_SUFFIX = ".onnx"
_FIRST_FIELD = 0x08  # a serialised ModelProto starts with field 1 (ir_version), a varint


class OnnxFlavor:
    """ONNX graphs (protobuf files) run by onnxruntime on CPU."""

    name: ClassVar[str] = "onnx"
    file_suffixes: ClassVar[tuple[str, ...]] = (ONNX_SUFFIX,)

    def matches_object(self, obj: Any) -> bool:
        cls = type(obj)
        return cls.__module__.startswith("onnx") and cls.__name__ == "ModelProto"

    def save_object(self, obj: Any, folder: Path) -> Packaged:
        path = folder / f"model{ONNX_SUFFIX}"
        with artifact_invalid("cannot serialise the ONNX model"):
            path.write_bytes(obj.SerializeToString())
        return self.inspect_file(path, trusted=False)

    def matches_file(self, path: Path) -> bool:
        start = head(path, 1)
        return path.suffix.lower() == ONNX_SUFFIX and start[:1] == bytes([_FIRST_FIELD])

    def inspect_file(self, path: Path, *, trusted: bool) -> Packaged:
        session = self._session(path)
        config = {
            "format": "onnx",
            "inputs": [a.name for a in session.get_inputs()],
            "outputs": [o.name for o in session.get_outputs()],
        }
        return Packaged(path, self.name, config, trusted=False)

    def load(self, path: Path, runtime_config: dict[str, Any], *, trusted: bool) -> OnnxRuntime:
        return OnnxRuntime(self._session(path))

    @staticmethod
    def _session(path: Path) -> Any:
        import onnxruntime

        if not path.is_file():
            raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{path} is not a file")
        data = parse_and_check(path)
        with artifact_invalid(f"{path.name} is not a valid ONNX model"):
            return onnxruntime.InferenceSession(
                data, sess_options=session_options(), providers=["CPUExecutionProvider"]
            )
