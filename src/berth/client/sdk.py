"""The Python SDK: ``berth.push(model, name="churn", metrics=..., input_example=df)``.

Light to import: the embedded registry (``home``) and the profiling of a ``reference`` sample load
when a call first needs them.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.client.registry import Registry, RemoteRegistry
from berth.core.entities import PushRequest, Version, VersionMetadata
from berth.core.model_cards import read_card
from berth.core.signature import Signature

if TYPE_CHECKING:
    from berth.control.monitoring.profile import Profile


def open_registry(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Registry:
    """The registry at `url` (a running server, called with `token`, default ``BERTH_TOKEN``), else
    the embedded one in `home` (default: settings, i.e. ``BERTH_HOME`` or ``./.berth``; ``BERTH_URL``
    picks a server when neither is given)."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteRegistry(url, token=token)
    from berth.client.embedded.registry import open_local_registry

    return open_local_registry(home)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def push(
    model: Any,
    *,
    name: str,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    feature_importance: Mapping[str, float] | None = None,
    docs: str = "",
    training_data: str = "",
    tags: Mapping[str, str] | None = None,
    input_example: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    aliases: Sequence[str] = (),
    team: str = "default",
    description: str = "",
    trust_pickle: bool = False,
    batching: Mapping[str, Any] | None = None,
    card: str | Path | Mapping[str, Any] | None = None,
    visibility: str | None = None,
    contact: str | None = None,
    reference: Any = None,
    reference_outputs: Any = None,
    home: str | Path | None = None,
    url: str | None = None,
    token: str | None = None,
) -> Version:
    """Push a fitted model (scikit-learn, XGBoost, LightGBM, ONNX, a pyfunc object) or an artifact
    file path (a model file, a pyfunc folder, an MLflow model folder: docs/mlflow.md) as a new
    version of `name`, and return it.

    `input_example` (a DataFrame, an array, a list of strings) gives the signature and is stored to
    document and warm up the model. `batching` sets this version's own adaptive batching
    (``enabled``, ``max_batch_size``, ``max_latency_ms``; default: the server's settings). The model
    goes to the server at `url` (with `token`, default ``BERTH_TOKEN``), else to the embedded
    registry in `home`.

    `reference` (a sample of the training data, in any form `input_example` takes) is summarised
    here into the version's reference profile for drift monitoring, with `reference_outputs` (the
    model's outputs on that sample: an array, or a dict by output name) for prediction drift.
    A bad sample is refused before anything is pushed.

    `card` is the version's model card: a dict of sections (``intended_use``, ``limitations`` …)
    or the path of a Markdown (``## Intended use`` headings) or JSON file (docs/catalog.md).
    `visibility` (``private`` or ``discoverable``) and `contact` set the model's, when given.
    """
    model_card = read_card(card) if card is not None else None
    request = PushRequest(
        name=name,
        team=team,
        description=description,
        metadata=VersionMetadata(
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            params=dict(params or {}),
            feature_importance={k: float(v) for k, v in (feature_importance or {}).items()},
            docs=docs,
            training_data=training_data,
            tags=dict(tags or {}),
            card=model_card,
        ),
        signature=Signature.from_dict(signature) if isinstance(signature, Mapping) else signature,
        input_example=input_example,
        aliases=tuple(aliases),
        trusted=trust_pickle,
        pushed_by=current_user(),
        source="sdk",
        batching=dict(batching) if batching is not None else None,
        visibility=visibility,
        contact=contact,
    )
    given = request.signature
    profile = _profile(reference, reference_outputs, given) if reference is not None else None
    registry = open_registry(home=home, url=url, token=token)
    try:
        if isinstance(model, str | Path):
            version = registry.push_file(Path(model), request)
        else:
            version = registry.push_object(model, request)
        if profile is not None:
            from berth.control.monitoring.profiling import signature_names

            if signature_names(version.signature) != signature_names(
                given
            ):  # an unnamed array takes the version's names
                profile = _profile(reference, reference_outputs, version.signature)
            registry.put_profile(version.model, version.number, profile.to_json())
        return version
    finally:
        registry.close()


def _profile(reference: Any, outputs: Any, signature: Signature | None) -> Profile:
    from berth.control.monitoring.profiling import build_version_profile  # numpy: a reference only

    return build_version_profile(reference, signature, outputs=outputs)
