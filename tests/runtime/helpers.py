"""Shared steps of the flavor tests: the push-and-load round trip and damaged copies of files."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from berth.control.packaging import package_object
from berth.core.tensors import ModelInput, ModelOutput
from berth.runtime.flavors.base import Packaged, Runtime
from berth.runtime.flavors.catalog import FlavorCatalog


def roundtrip(catalog: FlavorCatalog, obj: Any, folder: Path) -> tuple[Packaged, Runtime]:
    """Package `obj`, detect its file, inspect it as a pushed file and load it."""
    packaged = package_object(catalog, obj, folder)
    flavor = catalog.for_file(packaged.path)
    assert flavor.name == packaged.flavor
    inspected = flavor.inspect_file(packaged.path, trusted=packaged.trusted)
    assert inspected.flavor == packaged.flavor
    runtime = flavor.load(packaged.path, dict(packaged.runtime_config), trusted=packaged.trusted)
    return packaged, runtime


def corrupt_copy(path: Path, folder: Path, keep: bytes = b"", name: str = "corrupt") -> Path:
    """A file with `path`'s suffix holding `keep` followed by garbage."""
    target = folder / f"{name}{path.suffix}"
    target.write_bytes(keep + bytes(range(256)) * 4)
    return target


def truncated_copy(path: Path, folder: Path) -> Path:
    """The first half of `path`, under the same suffix."""
    data = path.read_bytes()
    target = folder / f"truncated{path.suffix}"
    target.write_bytes(data[: len(data) // 2])
    return target


def predict_in_threads(runtime: Runtime, inputs: ModelInput, outputs: tuple[str, ...]) -> list[ModelOutput]:
    """The answers of 4 threads predicting 8 times each."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda _: runtime.predict(inputs, outputs), range(32)))


def assert_same_answers(answers: list[ModelOutput], expected: ModelOutput) -> None:
    for answer in answers:
        for name, values in expected.items():
            np.testing.assert_array_equal(answer[name], values)
