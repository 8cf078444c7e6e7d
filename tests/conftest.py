"""Fixtures shared by the end-to-end suites: a fresh berth home, and small real models."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx._transports.default as httpx_transports
import numpy as np
import pandas as pd
import pytest
from hypothesis import settings as hypothesis_settings
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from berth.core.settings import Settings

if TYPE_CHECKING:
    import ssl

# Fixtures of real services the suites share: an S3 API server (`s3_server`, `s3_bucket`).
pytest_plugins = ["tests.support.pytorch", "tests.support.s3", "tests.support.spark"]

# The operator's allow-list of feature servers on this machine (`Settings.feature_source_allow`):
# the machine's Redis and the Feast servers the tests start on free ports, all on loopback. Every
# server, worker and CLI a test starts inherits it; the rule's own tests set theirs
# (tests/storage/test_feature_source_rules.py).
_REDIS_HOST = os.environ.get("BERTH_TEST_REDIS", "127.0.0.1:6379").rsplit(":", 1)[0]
os.environ.setdefault(
    "BERTH_FEATURE_SOURCE_ALLOW",
    f"redis://{_REDIS_HOST},feast+http://127.0.0.1,feast+flight://127.0.0.1",
)

# CI runs every property test with the same examples (a red that comes at random is no signal);
# locally hypothesis keeps exploring new ones. A test's own @settings still wins where it sets these.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


def _one_default_tls_context() -> None:
    """`httpx.get()` and its siblings make a Client per call, and each Client loads certifi's CA
    bundle into a new TLS context: 19 ms of CPU, paid by every poll of a wait loop (hundreds for each
    server a test starts, on a 2-core machine where that CPU slows the server being waited for). The
    default context (verify=True, no client certificate) is made once per test process; a call that
    passes its own `verify=` or `cert=` still gets a context of its own, made by httpx."""
    make = httpx_transports.create_ssl_context
    shared: list[ssl.SSLContext] = []

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is not True or cert is not None or not trust_env:
            return make(verify=verify, cert=cert, trust_env=trust_env)
        if not shared:
            shared.append(make())
        return shared[0]

    httpx_transports.create_ssl_context = create_ssl_context  # type: ignore[assignment]


_one_default_tls_context()


@dataclass(frozen=True)
class Trained:
    model: Any
    x: Any
    y: Any


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", poll_interval_s=0.1)


@pytest.fixture(scope="session")
def lr() -> Trained:
    """Logistic regression on 20 float features (the peer benchmark's model), numpy in."""
    x, y = make_classification(n_samples=500, n_features=20, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    return Trained(LogisticRegression(max_iter=1000).fit(x, y), x, y)


@pytest.fixture(scope="session")
def frame_pipeline() -> Trained:
    """A DataFrame pipeline: a string category and numbers in, string labels out."""
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "plus", "pro"], size=n),
            "age": rng.integers(18, 80, size=n),
            "spend": rng.normal(50, 20, size=n),
        }
    )
    labels = np.where((frame["spend"] > 50) | (frame["plan"] == "pro"), "stay", "churn")
    model = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                        ("num", StandardScaler(), ["age", "spend"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    ).fit(frame, labels)
    return Trained(model, frame, labels)


@pytest.fixture(scope="session")
def text_pipeline() -> Trained:
    """TF-IDF -> SGD classifier: a 1-D array of strings in, string labels out."""
    texts = [
        "my card was stolen",
        "lost my card yesterday",
        "card missing please block",
        "what is my balance",
        "show account balance",
        "balance of savings account",
    ] * 5
    labels = ["card_lost"] * 3 * 5 + ["balance"] * 3 * 5
    labels = [("card_lost" if "card" in t else "balance") for t in texts]
    model = Pipeline(
        [("tfidf", TfidfVectorizer()), ("clf", SGDClassifier(loss="log_loss", random_state=0))]
    ).fit(texts, labels)
    return Trained(model, np.array(texts, dtype=object), np.array(labels, dtype=object))
