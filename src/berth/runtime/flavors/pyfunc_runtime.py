"""A pyfunc model (a plain Python object with ``predict``) as a berth runtime."""

from __future__ import annotations

import shutil
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, TensorSpec
from berth.core.signature_inference import as_array
from berth.core.tensors import ModelInput, ModelOutput
from berth.runtime.flavors.code_import import forget
from berth.runtime.flavors.failures import prediction_failed
from berth.runtime.flavors.outputs import PREDICT, requested_outputs


def declared_outputs(model: Any) -> tuple[str, ...]:
    """The class attribute ``outputs`` (names as strings), else ``("predict",)``."""
    names = getattr(type(model), "outputs", None)
    if isinstance(names, Sequence) and not isinstance(names, str) and names:
        return tuple(str(n) for n in names)
    return (PREDICT,)


class PyfuncRuntime:
    """Calls the model's ``predict``; a bare array answer is the output ``predict``.

    Unloading forgets the imported code and deletes the unpacked folder (also done when the runtime
    is garbage-collected without being unloaded).
    """

    def __init__(self, model: Any, folder: Path, package: str) -> None:
        self._model = model
        self._outputs = declared_outputs(model)
        self._cleanup = weakref.finalize(self, _discard, folder, package)

    def input_specs(self) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
        return None

    def output_names(self) -> tuple[str, ...]:
        return self._outputs

    def default_outputs(self) -> tuple[str, ...]:
        return self._outputs

    def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        wanted = requested_outputs(outputs, self._outputs, self._outputs)
        with prediction_failed("pyfunc"):
            result = self._model.predict(inputs)
            named = (
                {str(k): v for k, v in result.items()} if isinstance(result, Mapping) else {PREDICT: result}
            )
            missing = [n for n in wanted if n not in named]
            if missing:
                raise BerthError(
                    ErrorCode.PREDICTION_FAILED,
                    f"the model's predict returned {sorted(named)}, not {missing}",
                )
            return {name: as_array(named[name]) for name in wanted}

    def step_function(self) -> Callable[[Any], Any]:
        """The package as a pipeline step: its ``transform`` when it has one, else its ``predict``
        (a DataFrame in, a DataFrame out; checked by the step that calls it)."""
        model = self._model
        if model is None:
            raise BerthError(ErrorCode.MODEL_NOT_READY, "the pyfunc package was unloaded")
        function = getattr(model, "transform", None) or model.predict
        if not callable(function):
            raise BerthError(ErrorCode.PIPELINE_STEP_FAILED, "the package's transform is not callable")
        return function  # type: ignore[no-any-return]

    def unload(self) -> None:
        self._model = None
        self._cleanup()


def _discard(folder: Path, package: str) -> None:
    forget(package)
    shutil.rmtree(folder, ignore_errors=True)
