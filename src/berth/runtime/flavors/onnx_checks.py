"""What an ONNX file may ask of the server, checked on the parsed protobuf before onnxruntime
sees it.

- No external data: a tensor whose bytes live in another file (``data_location: EXTERNAL``,
  ``external_data { key: "location" value: "../../etc/passwd" }``) would make onnxruntime read a
  path named by the file. berth stores one file per version, so every tensor must be inside it;
  any external reference, relative or absolute, is refused (ARTIFACT_INVALID).
- Only the operator domains onnxruntime implements itself (the standard ones and
  ``com.microsoft``) and the model's own local functions: a custom-op domain would need a
  library loaded into the server.
Subgraphs (``If``/``Loop``/``Scan`` bodies), sparse initializers, tensors in attributes and local
functions are all walked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.failures import artifact_invalid

KNOWN_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training", "ai.onnx.training"}
)
"""Operator domains onnxruntime implements without loading anything."""

_EXTERNAL = 1  # onnx.TensorProto.EXTERNAL


def _invalid(path: Path, reason: str) -> BerthError:
    return BerthError(ErrorCode.ARTIFACT_INVALID, f"{path.name}: {reason}")


def _attribute_graphs_and_tensors(node: Any) -> Iterator[tuple[str, Any]]:
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield "tensor", attribute.t
        for tensor in attribute.tensors:
            yield "tensor", tensor
        if attribute.HasField("sparse_tensor"):
            yield "tensor", attribute.sparse_tensor.values
            yield "tensor", attribute.sparse_tensor.indices
        for sparse in attribute.sparse_tensors:
            yield "tensor", sparse.values
            yield "tensor", sparse.indices
        if attribute.HasField("g"):
            yield "graph", attribute.g
        for graph in attribute.graphs:
            yield "graph", graph


def _walk(model: Any) -> Iterator[tuple[str, Any]]:
    """("tensor", t) for every tensor and ("node", n) for every node, in every (sub)graph."""
    pending: list[Any] = [model.graph]
    node_lists: list[Any] = [f.node for f in model.functions]
    while pending or node_lists:
        if pending:
            graph = pending.pop()
            for tensor in graph.initializer:
                yield "tensor", tensor
            for sparse in graph.sparse_initializer:
                yield "tensor", sparse.values
                yield "tensor", sparse.indices
            node_lists.append(graph.node)
            continue
        for node in node_lists.pop():
            yield "node", node
            for kind, item in _attribute_graphs_and_tensors(node):
                if kind == "graph":
                    pending.append(item)
                else:
                    yield kind, item


def check_model(path: Path, model: Any) -> None:
    """Refuse (ARTIFACT_INVALID) an ONNX model that reads other files or needs custom operators."""
    local = {f.domain for f in model.functions}
    allowed = KNOWN_DOMAINS | local
    for opset in model.opset_import:
        if opset.domain not in allowed:
            raise _invalid(path, f"it needs operator domain {opset.domain!r}, which berth does not load")
    for kind, item in _walk(model):
        if kind == "tensor" and (item.data_location == _EXTERNAL or len(item.external_data)):
            raise _invalid(
                path, f"tensor {item.name!r} keeps its data in another file; save the model as one file"
            )
        if kind == "node" and item.domain not in allowed:
            raise _invalid(path, f"operator {item.op_type!r} of domain {item.domain!r} is not available")


def parse_and_check(path: Path) -> bytes:
    """The bytes of the ONNX file at `path`, parsed and checked; what onnxruntime is then given."""
    import onnx

    data = path.read_bytes()
    model = onnx.ModelProto()
    with artifact_invalid(f"{path.name} is not a valid ONNX model"):
        model.ParseFromString(data)
    check_model(path, model)
    return data
