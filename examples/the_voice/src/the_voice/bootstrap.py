"""``python -m the_voice.bootstrap --home DIR`` (or ``--url URL``): label, train, push, route.

1. the train texts are labelled by clusters (`the_voice.labelling`) and a first model is trained on
   them (`the_voice.trainer`);
2. it is pushed as ``voice-classifier`` with its accuracy on the test split, its model card, its
   parameters, its training-data reference and a reference profile of the texts it was trained on
   (a seeded sample of `REFERENCE_ROWS`: drift of the ``text`` input is monitored against it), under
   the alias ``champion``;
3. the teams it routes to are created (each has an inbox), and the endpoint ``feedback-router``
   routes texts through it and delivers each one to its team's inbox (`the_voice.routing`).

Idempotent: a champion trained on the same data by the same code is kept, and an endpoint with the
same pipeline is left alone (its traffic is never touched: a retrained champion or a canary stays),
so a second run returns at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import berth
from the_voice.data import fingerprint, load_split
from the_voice.routing import CHAMPION, ENDPOINT, MODEL, TEAM, endpoint_spec
from the_voice.teams import DEFAULT_TEAM, TEAMS
from the_voice.trainer import VoiceTrainer, frame

REVISION = "5"
"""Bumped when the training code changes, so the fingerprint (and the cached champion) changes."""
REFERENCE_ROWS = 2_000
"""Training texts summarised into the champion's reference profile (the retrain job takes as many)."""
NOT_THERE = (
    berth.ErrorCode.MODEL_NOT_FOUND,
    berth.ErrorCode.ALIAS_NOT_FOUND,
    berth.ErrorCode.VERSION_NOT_FOUND,
)


@dataclass(frozen=True, slots=True)
class Where:
    """A running server (`url`) or an embedded home folder (`home`)."""

    url: str | None = None
    home: str | None = None
    token: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"url": self.url, "home": self.home, "token": self.token}


def data_fingerprint(base_rows: int | None) -> str:
    return f"{REVISION}-{fingerprint()}-{base_rows or 'all'}"


def bootstrap(where: Where, *, base_rows: int | None = None, say: Callable[[str], None] = print) -> int:
    """Make sure the champion and the endpoint exist; returns the champion's version number."""
    number = _champion(where, base_rows, say)
    _teams(where, say)
    _endpoint(where, say)
    return number


def _champion(where: Where, base_rows: int | None, say: Callable[[str], None]) -> int:
    wanted = data_fingerprint(base_rows)
    registry = berth.open_registry(**where.kwargs())
    try:
        try:
            current = registry.get_version(MODEL, CHAMPION)
            if current.metadata.tags.get("voice_fingerprint") == wanted:
                say(f"{MODEL} v{current.number} is the champion, trained on this data: kept")
                return current.number
        except berth.BerthError as exc:
            if exc.code not in NOT_THERE:
                raise
    finally:
        registry.close()
    trainer = VoiceTrainer({} if base_rows is None else {"base_rows": base_rows})
    say("labelling the train texts by clusters (sentence embeddings + KMeans, k = 77) ...")
    texts, labels = trainer.base_data()
    say(f"training {MODEL} on {len(texts)} texts with their cluster labels ...")
    model = trainer.train((texts, labels), ([], []))
    test = load_split("test")
    accuracy = _accuracy(model.predict(frame(test.texts)), test.categories)
    described = trainer.describe()
    version = berth.push(
        model,
        name=MODEL,
        team=TEAM,
        description="Customer feedback text -> one of 77 banking categories (The Voice).",
        metrics={"accuracy": accuracy, "train_rows": float(len(texts)), "corrections": 0.0},
        params=described["params"],
        docs=described["docs"],
        training_data=f"banking77 train.csv ({len(texts)} texts), labels: KMeans clusters, named",
        tags={"voice_fingerprint": wanted, "labels": "kmeans"},
        input_example=frame(texts[:5]),
        reference=frame(_sample(texts, REFERENCE_ROWS)),
        aliases=(CHAMPION,),
        **where.kwargs(),
    )
    say(f"pushed {MODEL} v{version.number} (test accuracy {accuracy:.3f}) as {CHAMPION}")
    return version.number


def _teams(where: Where, say: Callable[[str], None]) -> None:
    """The teams messages are delivered to (each has an inbox); needs the platform's admin right
    on a server (made without authentication, or with an admin token)."""
    from berth.client.security import RemoteSecurity

    if where.url:
        security: Any = RemoteSecurity(where.url, token=where.token)
    else:
        from berth.client.embedded.security import open_local_security

        security = open_local_security(Path(where.home) if where.home else None, "the_voice.bootstrap")
    try:
        existing = {t["name"] for t in security.list_teams()}
        for team in [*TEAMS, DEFAULT_TEAM]:
            if team not in existing:
                security.create_team(team, f"The Voice: {team} (its inbox gets the messages routed to it)")
                say(f"created team {team}")
    finally:
        security.close()


def _endpoint(where: Where, say: Callable[[str], None]) -> None:
    spec = endpoint_spec()
    endpoints = berth.endpoints(**where.kwargs())
    try:
        try:
            current = endpoints.get(ENDPOINT)
        except berth.BerthError as exc:
            if exc.code is not berth.ErrorCode.ENDPOINT_NOT_FOUND:
                raise
            endpoints.create(ENDPOINT, spec, team=TEAM, description="Routes customer feedback to a team.")
            say(f"created endpoint {ENDPOINT}")
            return
        if current.get("pipeline") == spec["pipeline"] and current.get("deliver") == spec["deliver"]:
            say(f"endpoint {ENDPOINT} is up to date")
            return
        # the traffic (targets, a canary) is the operators': only the routing and delivery are renewed
        endpoints.replace(
            ENDPOINT,
            {**current, "pipeline": spec["pipeline"], "deliver": spec["deliver"]},
            expected_revision=current["revision"],
            reason="the_voice.bootstrap: the routing pipeline changed",
        )
        say(f"updated the pipeline of endpoint {ENDPOINT}")
    finally:
        endpoints.close()


def _sample(texts: Sequence[str], rows: int) -> list[str]:
    """A seeded sample of `rows` texts (all of them when there are fewer), in their order."""
    if len(texts) <= rows:
        return list(texts)
    chosen = np.sort(np.random.default_rng(0).choice(len(texts), size=rows, replace=False))
    return [texts[i] for i in chosen]


def _accuracy(predicted: Any, truth: Sequence[str]) -> float:
    return float(np.mean(np.asarray(predicted, dtype=object) == np.asarray(truth, dtype=object)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m the_voice.bootstrap", description=__doc__.splitlines()[0]
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running berth server")
    where.add_argument("--home", help="an embedded berth home folder (default: BERTH_HOME or ./.berth)")
    parser.add_argument("--token", help="API token for --url (default: BERTH_TOKEN)")
    parser.add_argument(
        "--base-rows", type=int, default=None, help="train on a seeded sample of N texts only"
    )
    args = parser.parse_args(argv)
    bootstrap(Where(url=args.url, home=args.home, token=args.token), base_rows=args.base_rows)


if __name__ == "__main__":
    main()
