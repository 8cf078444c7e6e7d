"""The Voice in ``berth demo`` (``make run``): the entry point ``berth.demos: the-voice``.

berth's demo command calls `prepare` on its home folder before serving (idempotent: trained once
per data fingerprint), adds the triggers `retrain_triggers` describes (its worker fires them), and
prints `try_it` and `story` with the server's address.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from the_voice.bootstrap import Where, bootstrap
from the_voice.routing import ENDPOINT, MODEL

RETRAIN_TRIGGER = "voice-retrain"
"""The trigger that retrains the classifier from the analysts' corrections."""


def prepare(home: Path, say: Callable[[str], None]) -> None:
    bootstrap(Where(home=str(home)), say=say)


def retrain_triggers(every: int) -> list[dict[str, Any]]:
    """berth's ``retrain`` job on the classifier, fired every `every` corrections to
    ``feedback-router`` (as JSON, ``POST /api/v1/jobs/triggers``'s body)."""
    return [
        {
            "name": RETRAIN_TRIGGER,
            "kind": "retrain",
            "params": {"model": MODEL, "trainer": "voice", "endpoint": ENDPOINT},
            "corrections_endpoint": ENDPOINT,
            "corrections_count": every,
        }
    ]


def try_it(url: str) -> list[str]:
    body = {
        "inputs": [
            {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["I think my card was stolen"]}
        ]
    }
    return [
        f"The Voice: customer feedback -> category, team, confidence (endpoint {ENDPOINT}):",
        f"  curl -s -X POST {url}/v2/models/{ENDPOINT}/infer -H 'content-type: application/json' \\",
        f"       -d '{json.dumps(body)}'",
    ]


def story(url: str, every: int) -> list[str]:
    """The Voice in three lines: where it starts, how it learns, where to click."""
    return [
        f"1. It starts from clusters: no labelled data; {MODEL} learnt from clusters of the texts "
        "an analyst named, so its first answers are rough.",
        f"2. It learns from the analyst's corrections: every {every} corrections the worker retrains "
        "it and promotes the new model when it beats the champion on held-out corrections.",
        f"3. Click: {url}/ui/#/records (needs review first: correct a few), then "
        f"{url}/ui/#/models/{MODEL} (the learning curve).",
    ]
