"""The runtime contract: how berth packages, inspects and loads one kind of model (a flavor).

A flavor is found by name through the ``berth.flavors`` entry-point group, so a third party adds
one with a package that declares an entry point (importing the contract from `berth.extensions`);
berth ships sklearn, onnx, xgboost, lightgbm, pyfunc and pytorch (the ``torch`` extra); see
docs/flavors.md.

Life of a version:
1. push: `matches_object` + `save_object` (Python SDK), or `matches_file` + `inspect_file` (a file
   pushed as it is) give a `Packaged` artifact; berth stores it and its sha256;
2. serve: the artifact is fetched and verified against its sha256, then `load` gives a `Runtime`;
3. `Runtime.predict` answers batches; `Runtime.unload` frees it.

A flavor may declare ``fork_safe: ClassVar[bool] = True`` when its `load` starts no native thread
pool (OpenMP, a framework's session threads): `berth serve --workers N` then loads its versions once
in the parent process and forks the workers, which share the model's memory. A flavor that does not
declare it loads in each worker (`berth.runtime.preloaded`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from berth.core.signature import InputLayout, TensorSpec
from berth.core.tensors import ModelInput, ModelOutput

TRUST_SWITCHES = "--trust-pickle (CLI) or trust_pickle=True (SDK)"
"""How a pusher trusts an artifact whose loading runs code: what UNTRUSTED_ARTIFACT errors name."""


@dataclass(frozen=True, slots=True)
class Packaged:
    """An artifact file ready to store, and what the registry records with it.

    `runtime_config` is JSON-serialisable and handed back to `Flavor.load` (e.g. class labels,
    the serialisation format, the skops types that were approved at push time). `trusted` is True
    when loading runs code or unpickles (only allowed when the pusher said so explicitly).
    `declared_inputs` and `input_example` are what the artifact's own description gives (an
    MLflow model's signature and example); a push that gives its own example or signature wins.
    """

    path: Path
    flavor: str
    runtime_config: dict[str, Any] = field(default_factory=dict)
    trusted: bool = False
    declared_inputs: tuple[InputLayout, tuple[TensorSpec, ...]] | None = None
    input_example: Any = None


class Runtime(Protocol):
    """A loaded model version. `predict` may be called from several threads, never concurrently
    with `unload`."""

    def input_specs(self) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
        """What the model itself declares of its inputs (ONNX graph inputs, scikit-learn
        ``feature_names_in_``/``n_features_in_``), or None when it declares nothing."""
        ...

    def output_names(self) -> tuple[str, ...]:
        """Every output `predict` can produce (e.g. ``("predict", "predict_proba")``)."""
        ...

    def default_outputs(self) -> tuple[str, ...]:
        """The outputs returned when a request names none (e.g. ``("predict",)``)."""
        ...

    def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        """Run the model on a batch and return the named `outputs`, each with the batch as first
        dimension. Class labels come back as the labels the model was trained with."""
        ...

    def unload(self) -> None: ...


class Flavor(Protocol):
    """One kind of model: how to recognise it, package it and load it."""

    name: ClassVar[str]
    file_suffixes: ClassVar[tuple[str, ...]]
    """The suffixes of this flavor's artifact files, lower case with their dot (``(".onnx",)``). An
    upload keeps the one its file name ends with (the rest of the name is dropped), so
    `matches_file` sees it; an upload ending in none of the installed flavors' suffixes is stored
    without one."""

    def matches_object(self, obj: Any) -> bool:
        """True when `obj` is a fitted model of this flavor (checked without importing frameworks
        the caller has not imported: look at ``type(obj).__module__`` first)."""
        ...

    def save_object(self, obj: Any, folder: Path) -> Packaged:
        """Serialise a fitted model object into `folder` in this flavor's safe native format."""
        ...

    def matches_file(self, path: Path) -> bool:
        """True when the file (or folder) at `path` is an artifact of this flavor (extension and
        magic bytes; never by unpickling)."""
        ...

    def inspect_file(self, path: Path, *, trusted: bool) -> Packaged:
        """Check a file pushed as it is and package it: refuse (UNTRUSTED_ARTIFACT) a pickle or
        unknown skops types unless `trusted`; refuse (ARTIFACT_INVALID) a corrupt file."""
        ...

    def load(self, path: Path, runtime_config: dict[str, Any], *, trusted: bool) -> Runtime:
        """Load a verified artifact. Raise ARTIFACT_INVALID when it cannot be loaded and
        UNTRUSTED_ARTIFACT when loading it would need trust it was not given."""
        ...
