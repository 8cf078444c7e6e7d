"""A third party's flavor, written against `berth.extensions` only: an ``.answer`` file holds one
number, and the model answers it for every row. Installed in tests through `install_answer_flavor`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from berth.extensions import (
    BerthError,
    ErrorCode,
    InputLayout,
    ModelInput,
    ModelOutput,
    Packaged,
    TensorSpec,
)

SUFFIX = ".answer"


class AnswerRuntime:
    def __init__(self, value: float) -> None:
        self.value = value

    def input_specs(self) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
        return InputLayout.TENSOR, (TensorSpec("x", "FP64", (-1, 1)),)

    def output_names(self) -> tuple[str, ...]:
        return ("predict",)

    def default_outputs(self) -> tuple[str, ...]:
        return ("predict",)

    def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        rows = len(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs)
        return {"predict": np.full(rows, self.value)}

    def unload(self) -> None:
        pass


class AnswerFlavor:
    name: ClassVar[str] = "answer"
    file_suffixes: ClassVar[tuple[str, ...]] = (SUFFIX,)

    def matches_object(self, obj: Any) -> bool:
        return False

    def save_object(self, obj: Any, folder: Path) -> Packaged:
        raise BerthError(ErrorCode.UNSUPPORTED_FLAVOR, "answer models are files")

    def matches_file(self, path: Path) -> bool:
        return path.is_file() and path.suffix == SUFFIX

    def inspect_file(self, path: Path, *, trusted: bool) -> Packaged:
        return Packaged(path, self.name, {"value": _value(path)})

    def load(self, path: Path, runtime_config: dict[str, Any], *, trusted: bool) -> AnswerRuntime:
        return AnswerRuntime(_value(path))


def _value(path: Path) -> float:
    try:
        return float(json.loads(path.read_text())["answer"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{path.name}: not an answer file ({exc})") from None


class ShoutingFlavor(AnswerFlavor):
    """Declares an upper-case suffix, which berth refuses: discovery leaves it out."""

    name: ClassVar[str] = "shouting"
    file_suffixes: ClassVar[tuple[str, ...]] = (".ANSWER",)


def install_answer_flavor(folder: Path, *, with_shouting: bool = False) -> Path:
    """A folder with the metadata of a distribution registering `AnswerFlavor` (and `ShoutingFlavor`)
    under ``berth.flavors`` (put it on ``sys.path``)."""
    dist = folder / "berth_answer_flavor-0.0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: berth-answer-flavor\nVersion: 0.0.0\n")
    entries = ["answer = tests.extensions.answer_flavor:AnswerFlavor"]
    if with_shouting:
        entries.append("shouting = tests.extensions.answer_flavor:ShoutingFlavor")
    (dist / "entry_points.txt").write_text("[berth.flavors]\n" + "\n".join(entries) + "\n")
    return folder
