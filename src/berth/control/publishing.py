"""Publishing a version: package, check, describe, store — the one path every push takes.

The Python SDK (a fitted object), the CLI (a file) and the management API (an upload) all end in
`Publisher`: the artifact is packaged in its flavor's safe format, loaded once here to prove it
loads and to infer its signature from the input example, hashed and stored, and only then
recorded as a new version (so a version that exists always has a loadable artifact behind it).

A version's ``trusted`` says whether loading it relies on a maintainer's word (a pickle, pyfunc
code, skops types outside berth's allow-list): it is what the flavor found the artifact needs, not
what the pusher asked for, and a push whose artifact needs trust the pusher did not give is
refused (UNTRUSTED_ARTIFACT) before anything is stored. A trusted version is recorded with a
``version.trust`` audit event; an untrusted one is re-checked against the allow-list at every load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from berth.control.packaging import package_file, package_object
from berth.core.entities import NewVersion, PushRequest, Version, check_alias_name, check_model_name
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, TensorSpec
from berth.runtime.batching import BatchingConfig
from berth.runtime.flavors.base import TRUST_SWITCHES, Packaged, Runtime
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.storage.protocols import ArtifactStore, RegistryStore


class Publisher:
    def __init__(
        self,
        store: RegistryStore,
        artifacts: ArtifactStore,
        catalog: FlavorCatalog,
        *,
        max_artifact_bytes: int | None = None,
    ) -> None:
        self._store = store
        self._artifacts = artifacts
        self._catalog = catalog
        self._max_artifact_bytes = max_artifact_bytes

    def push_object(self, obj: Any, request: PushRequest) -> Version:
        """Push a fitted model object (scikit-learn, XGBoost, LightGBM, ONNX, pyfunc)."""
        self._check_names(request)
        with tempfile.TemporaryDirectory(prefix="berth-push-") as folder:
            packaged = package_object(self._catalog, obj, Path(folder))
            return self._publish(packaged, request)

    def push_file(self, path: Path, request: PushRequest) -> Version:
        """Push an artifact file (a pyfunc folder, an MLflow model folder or a zip of one) as it
        is; its flavor is detected from it."""
        self._check_names(request)
        if not path.exists():
            raise BerthError(ErrorCode.ARTIFACT_INVALID, f"no such file: {path}")
        with tempfile.TemporaryDirectory(prefix="berth-push-") as folder:
            packaged = package_file(self._catalog, path, trusted=request.trusted, folder=Path(folder))
            return self._publish(packaged, request)

    @staticmethod
    def _check_names(request: PushRequest) -> None:
        check_model_name(request.name)
        for alias in request.aliases:
            check_alias_name(alias)

    def _publish(self, packaged: Packaged, request: PushRequest) -> Version:
        if packaged.trusted and not request.trusted:
            raise BerthError(
                ErrorCode.UNTRUSTED_ARTIFACT,
                f"loading this {packaged.flavor} model runs code or types berth does not allow by "
                f"itself; a maintainer may push it with {TRUST_SWITCHES} (audited)",
            )
        from berth.runtime.signatures import build_signature  # pandas and the model: only a push

        flavor = self._catalog.get(packaged.flavor)
        runtime = flavor.load(packaged.path, dict(packaged.runtime_config), trusted=packaged.trusted)
        try:
            example, declared = _example_and_inputs(packaged, request, runtime)
            signature = build_signature(runtime, example=example, given=request.signature, declared=declared)
        finally:
            runtime.unload()
        from berth.control.examples import example_as_request  # pandas: only a push with an example

        stored = example_as_request(example, signature) if example is not None else None
        with packaged.path.open("rb") as source:
            artifact = self._artifacts.put(
                source, filename=packaged.path.name, max_bytes=self._max_artifact_bytes
            )
        new = NewVersion(
            flavor=packaged.flavor,
            artifact=artifact,
            signature=signature,
            runtime_config=_with_batching(packaged.runtime_config, request.batching),
            input_example=stored,
            metadata=request.metadata,
            trusted=packaged.trusted,
            pushed_by=request.pushed_by,
            source=request.source,
        )
        self._ensure_model(request)
        version = self._store.create_version(
            request.name,
            new,
            team=request.team,
            expected_team=request.expected_team,
            aliases=request.aliases,
            visibility=request.visibility,
            contact=request.contact,
        )
        return self._store.get_version(request.name, version.number) if request.aliases else version

    def _ensure_model(self, request: PushRequest) -> None:
        try:
            self._store.get_model(request.name)
        except BerthError as exc:
            if exc.code is not ErrorCode.MODEL_NOT_FOUND:
                raise
            try:
                self._store.create_model(
                    request.name,
                    team=request.team,
                    description=request.description,
                    visibility=request.visibility,
                    contact=request.contact,
                )
            except BerthError as race:
                if race.code is not ErrorCode.ALREADY_EXISTS:
                    raise


def _example_and_inputs(
    packaged: Packaged, request: PushRequest, runtime: Runtime
) -> tuple[Any, tuple[InputLayout, tuple[TensorSpec, ...]] | None]:
    """The input example and declared inputs a push's signature is built from: the push's own
    example; else what the artifact describes (an MLflow model's signature and example), the
    example given the declared inputs' datatypes (the model's own, when the artifact states none:
    an example read from JSON says little of its types)."""
    from berth.runtime.signatures import typed_example

    if request.input_example is not None:
        return request.input_example, None
    if packaged.input_example is None:
        return None, packaged.declared_inputs
    declared = packaged.declared_inputs or runtime.input_specs()
    if declared is None:
        return packaged.input_example, None
    typed = typed_example(packaged.input_example, declared)
    if typed is not None:
        return typed, declared
    if packaged.declared_inputs is not None:
        raise BerthError(
            ErrorCode.SIGNATURE_MISMATCH,
            "the input example the artifact ships does not fit the signature it states",
        )
    return packaged.input_example, None


def _with_batching(runtime_config: dict[str, Any], batching: dict[str, Any] | None) -> dict[str, Any]:
    """The flavor's runtime config, plus the version's own batching settings once they check out."""
    config = dict(runtime_config)
    if batching:
        checked = BatchingConfig().updated(batching)
        config["batching"] = {key: getattr(checked, key) for key in batching}
    return config
