"""Text model parts served inside berth: sentence encoders referenced by name.

::

    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression
    from berth.text import SentenceEncoder

    model = make_pipeline(SentenceEncoder(), LogisticRegression()).fit(texts, labels)
    berth.push(model, name="intents")   # a skops file: no trust needed, the encoder is a reference

The pushed file holds the encoder's registered name and its weights' sha256, never its code or
weights: the server computes the embeddings with the encoder it has installed (the ``text`` extra),
after checking the weights' digest. `embed` gives the same vectors in the caller's own process
(to cluster texts before any label exists, for instance). See docs/the-voice.md.
"""

from berth.runtime.sentence_encoder import (
    DEFAULT_ENCODER,
    ENCODERS,
    EncoderSpec,
    SentenceEncoder,
    embed,
)

__all__ = ["DEFAULT_ENCODER", "ENCODERS", "EncoderSpec", "SentenceEncoder", "embed"]
