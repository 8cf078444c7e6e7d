"""A home with the `money` model of team alpha (age, income -> yes/no) and two principals with
tokens: alice, a maintainer of alpha, and bob, a maintainer of beta (another team). The training-set,
served-features and point-in-time tests serve it from a real server with authentication on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore


def money_platform(home: Path, *, seed: int) -> tuple[Settings, dict[str, str]]:
    """Push `money` into `home` (trained on `seed`'s rows); its settings and the tokens by principal."""
    rng = np.random.default_rng(seed)
    train = pd.DataFrame({"age": rng.normal(40, 10, 200), "income": rng.normal(45_000, 5_000, 200)})
    model = LogisticRegression().fit(train, np.where(train["income"] > 45_000, "yes", "no"))
    berth.push(model, name="money", home=home, input_example=train.head(3), team="alpha")
    settings = Settings(
        home=home, poll_interval_s=0.1, auth="tokens", journal_rotate_s=0.5, ingest_interval_s=0.05
    )
    security = SqlSecurityStore(settings.resolved_database_url)
    try:
        security.set_member("alpha", "alice", Role.MAINTAINER)
        security.create_team("beta")
        security.set_member("beta", "bob", Role.MAINTAINER)
        return settings, {n: security.create_token(n).secret for n in ("alice", "bob")}
    finally:
        security.close()
