"""The PyTorch flavor: TorchScript modules and torch.export programs pushed as objects and files,
their signatures, and the archives it refuses (pickles, file reads, code torch.export.load would
run)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from berth.control.packaging import package_file
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, TensorSpec
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.flavors.pytorch import PyTorchFlavor
from berth.runtime.signatures import build_signature
from tests.runtime.helpers import assert_same_answers, predict_in_threads, roundtrip, truncated_copy

X = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def models(torch: ModuleType) -> Any:
    from tests.support import torch_models

    return torch_models


@pytest.fixture(scope="module")
def mlp(models: Any) -> Any:
    return models.MLP().eval()


@pytest.fixture(scope="module")
def exported(torch: ModuleType, mlp: Any) -> Any:
    batch = torch.export.Dim("batch")
    return torch.export.export(mlp, (torch.zeros(2, 4),), dynamic_shapes={"x": {0: batch}})


@pytest.fixture(scope="module")
def pt2_file(torch: ModuleType, exported: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pt2") / "mlp.pt2"
    torch.export.save(exported, path)
    return path


def expected(torch: ModuleType, model: Any, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    with torch.no_grad():
        return np.asarray(model(torch.from_numpy(x)).numpy())


def refused(call: Callable[[], Any], code: ErrorCode, *words: str) -> None:
    with pytest.raises(BerthError) as caught:
        call()
    assert caught.value.code is code, caught.value.message
    for word in words:
        assert word in caught.value.message


def rewritten(
    path: Path, target: Path, change: Callable[[str, bytes], bytes | None], add: dict[str, bytes]
) -> Path:
    """A copy of the zip `path` whose members pass through `change` (None drops one), plus `add`."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
        root = source.namelist()[0].split("/")[0]
        for info in source.infolist():
            data = change(info.filename.split("/", 1)[1], source.read(info))
            if data is not None:
                out.writestr(info.filename, data)
        for name, data in add.items():
            out.writestr(f"{root}/{name}", data)
    return target


# -- TorchScript ----------------------------------------------------------------------------------
def test_a_module_is_scripted_and_answers_like_torch(
    torch: ModuleType, catalog: FlavorCatalog, mlp: Any, tmp_path: Path
) -> None:
    packaged, runtime = roundtrip(catalog, mlp, tmp_path)

    assert packaged.flavor == "pytorch"
    assert packaged.path.suffix == ".pt"
    assert not packaged.trusted
    assert packaged.runtime_config == {"format": "torchscript", "inputs": ["x"], "outputs": ["output-0"]}
    assert runtime.input_specs() is None  # TorchScript declares no dtypes or shapes: the example does
    answer = runtime.predict(X, ())
    np.testing.assert_allclose(answer["output-0"], expected(torch, mlp, X), rtol=1e-6)
    assert_same_answers(predict_in_threads(runtime, X, ("output-0",)), answer)


def test_a_traced_module_with_two_inputs_and_outputs(
    torch: ModuleType, catalog: FlavorCatalog, models: Any, tmp_path: Path
) -> None:
    model = models.TwoHeads().eval()
    x, counts = X[:5, :3], np.arange(10, dtype=np.int64).reshape(5, 2)
    traced = torch.jit.trace(model, (torch.from_numpy(x), torch.from_numpy(counts)))

    packaged, runtime = roundtrip(catalog, traced, tmp_path)
    signature = build_signature(runtime, example={"x": x, "counts": counts})

    assert packaged.runtime_config["inputs"] == ["x", "counts"]
    assert signature.layout is InputLayout.TENSORS
    assert [(s.name, s.datatype) for s in signature.inputs] == [("x", "FP32"), ("counts", "INT64")]
    answer = runtime.predict({"counts": counts, "x": x}, ())  # by name, in any order
    scores, best = model(torch.from_numpy(x), torch.from_numpy(counts))
    np.testing.assert_allclose(answer["output-0"], scores.detach().numpy(), rtol=1e-6)
    assert answer["output-1"].tolist() == best.tolist()
    refused(lambda: runtime.predict({"x": x}, ()), ErrorCode.SIGNATURE_MISMATCH, "counts")


def test_a_pushed_torchscript_file(
    torch: ModuleType, catalog: FlavorCatalog, mlp: Any, tmp_path: Path
) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(mlp), str(path))

    packaged = package_file(catalog, path, trusted=False, folder=tmp_path / "work")
    runtime = PyTorchFlavor().load(packaged.path, packaged.runtime_config, trusted=False)

    np.testing.assert_allclose(runtime.predict(X, ())["output-0"], expected(torch, mlp, X), rtol=1e-6)


def test_a_module_that_does_not_script_is_refused(
    catalog: FlavorCatalog, tmp_path: Path, torch: ModuleType
) -> None:
    class Dynamic(torch.nn.Module):
        def forward(self, *inputs: Any) -> Any:  # variadic arguments: not TorchScript
            return inputs[0]

    refused(lambda: roundtrip(catalog, Dynamic(), tmp_path), ErrorCode.ARTIFACT_INVALID, "torch.jit.trace")


# -- torch.export ---------------------------------------------------------------------------------
def test_an_exported_program_declares_its_signature(
    torch: ModuleType, catalog: FlavorCatalog, mlp: Any, exported: Any, tmp_path: Path
) -> None:
    packaged, runtime = roundtrip(catalog, exported, tmp_path)

    assert packaged.path.suffix == ".pt2"
    assert packaged.runtime_config == {"format": "export", "inputs": ["x"], "outputs": ["output-0"]}
    assert runtime.input_specs() == (InputLayout.TENSOR, (TensorSpec("x", "FP32", (-1, 4)),))
    signature = build_signature(runtime)  # no example needed
    assert signature.inputs == (TensorSpec("x", "FP32", (-1, 4)),)
    assert signature.outputs[0].shape == (-1, 2)
    answer = runtime.predict(X.astype(np.float64), ())  # cast to the program's float32
    np.testing.assert_allclose(answer["output-0"], expected(torch, mlp, X), rtol=1e-6)
    assert_same_answers(predict_in_threads(runtime, X, ("output-0",)), answer)


def test_a_fixed_batch_dimension_turns_batching_off(
    torch: ModuleType, catalog: FlavorCatalog, mlp: Any, tmp_path: Path
) -> None:
    fixed = torch.export.export(mlp, (torch.zeros(3, 4),))

    packaged, runtime = roundtrip(catalog, fixed, tmp_path)

    assert packaged.runtime_config["batching"] == {"enabled": False}
    assert runtime.input_specs() == (InputLayout.TENSOR, (TensorSpec("x", "FP32", (3, 4)),))


# -- what is refused ------------------------------------------------------------------------------
def test_a_torch_save_pickle_is_refused_trusted_or_not(torch: ModuleType, mlp: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(mlp, path)  # a zip holding a pickle of the module's class

    for trusted in (False, True):
        refused(
            lambda t=trusted: PyTorchFlavor().inspect_file(path, trusted=t),
            ErrorCode.UNTRUSTED_ARTIFACT,
            "pickle",
        )
    refused(lambda: PyTorchFlavor().load(path, {}, trusted=True), ErrorCode.UNTRUSTED_ARTIFACT)


def test_a_plain_pickle_renamed_pt_needs_trust(catalog: FlavorCatalog, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"not": "a model"}))

    work = tmp_path / "work"
    untrusted = ErrorCode.UNTRUSTED_ARTIFACT
    refused(lambda: package_file(catalog, path, trusted=False, folder=work), untrusted, "pickle")


def test_torchscript_that_reads_files_is_refused(
    torch: ModuleType, catalog: FlavorCatalog, models: Any, tmp_path: Path
) -> None:
    path = tmp_path / "reads.pt"
    torch.jit.save(torch.jit.script(models.ReadsFiles()), str(path))

    work = tmp_path / "work"
    untrusted = ErrorCode.UNTRUSTED_ARTIFACT
    refused(lambda: package_file(catalog, path, trusted=False, folder=work), untrusted, "from_file")
    refused(lambda: PyTorchFlavor().load(path, {}, trusted=False), ErrorCode.UNTRUSTED_ARTIFACT)
    assert package_file(catalog, path, trusted=True, folder=work).trusted  # a maintainer's word (audited)


@pytest.mark.parametrize(
    "source",
    [
        'y = getattr(ops, "quantized")',  # another operator namespace, by a computed name
        "y = ops.debugprims.load_tensor",
        "y = __torch__.torch.classes.dist_c10d.FileStore",
        'y = getattr(torch, "save")',
    ],
)
def test_torchscript_source_reaching_outside_is_refused(
    torch: ModuleType, mlp: Any, tmp_path: Path, source: str
) -> None:
    path = tmp_path / "clean.pt"
    torch.jit.save(torch.jit.script(mlp), str(path))

    def inject(name: str, data: bytes) -> bytes:
        return (
            data + f"\n# {source}\n".encode() if name.startswith("code/") and name.endswith(".py") else data
        )

    hostile = rewritten(path, tmp_path / "hostile.pt", inject, {})
    refused(lambda: PyTorchFlavor().inspect_file(hostile, trusted=False), ErrorCode.UNTRUSTED_ARTIFACT)


@pytest.mark.parametrize(
    ("change", "add", "words"),
    [
        (lambda n, d: d.replace(b'"use_pickle": false', b'"use_pickle": true'), {}, ("pickle",)),
        (
            lambda n, d: d.replace(b"torch.ops.aten.relu.default", b"torch.os.system"),
            {},
            ("torch.os.system",),
        ),
        (lambda n, d: d.replace(b"torch.ops.aten.relu.default", b"torch.ops.aten.from_file.default"), {}, ()),
        (lambda n, d: d, {"data/aotinductor/model/model.so": b"\x7fELF"}, ("aotinductor",)),
        (lambda n, d: d, {"data/constants/custom_obj_0": b"\x80\x04N."}, ("custom_obj_0",)),
        (
            lambda n, d: pickle.dumps(print) if n == "data/sample_inputs/model.pt" else d,
            {},
            ("sample inputs",),
        ),
    ],
    ids=["pickled-weights", "python-target", "file-read", "aoti-library", "custom-object", "pickled-sample"],
)
def test_export_archives_torch_would_unpickle_or_run_are_refused(
    pt2_file: Path, tmp_path: Path, change: Any, add: dict[str, bytes], words: tuple[str, ...]
) -> None:
    hostile = rewritten(pt2_file, tmp_path / "hostile.pt2", change, add)

    refused(
        lambda: PyTorchFlavor().inspect_file(hostile, trusted=False), ErrorCode.UNTRUSTED_ARTIFACT, *words
    )
    refused(lambda: PyTorchFlavor().load(hostile, {}, trusted=False), ErrorCode.UNTRUSTED_ARTIFACT)


def test_the_export_check_reads_nested_graphs(pt2_file: Path) -> None:
    with zipfile.ZipFile(pt2_file) as archive:
        program = json.loads(archive.read("mlp/models/model.json"))
    targets = [n["target"] for n in program["graph_module"]["graph"]["nodes"]]
    assert targets == [
        "torch.ops.aten.linear.default",
        "torch.ops.aten.relu.default",
        "torch.ops.aten.linear.default",
    ]


def test_its_files_are_recognised_by_it_alone(
    torch: ModuleType, catalog: FlavorCatalog, mlp: Any, pt2_file: Path, tmp_path: Path
) -> None:
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(mlp), str(scripted))

    for path in (scripted, pt2_file):
        matching = [name for name in catalog.names() if catalog.get(name).matches_file(path)]
        assert matching == ["pytorch"]
        assert path.suffix in catalog.get("pytorch").file_suffixes


def test_damaged_files_are_invalid(catalog: FlavorCatalog, pt2_file: Path, tmp_path: Path) -> None:
    truncated = truncated_copy(pt2_file, tmp_path)
    refused(lambda: PyTorchFlavor().inspect_file(truncated, trusted=False), ErrorCode.ARTIFACT_INVALID)
    not_zip = tmp_path / "text.pt"
    not_zip.write_text("hello")
    refused(lambda: catalog.for_file(not_zip), ErrorCode.UNSUPPORTED_FLAVOR)


def test_discovering_the_flavor_does_not_import_torch() -> None:
    code = (
        "import sys; from berth.runtime.flavors.catalog import FlavorCatalog; "
        "names = FlavorCatalog().names(); assert 'pytorch' in names, names; "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
