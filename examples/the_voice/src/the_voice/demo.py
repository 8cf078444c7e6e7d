"""The Voice in ``berth demo`` (``make run``): the entry point ``berth.demos: the-voice``.

berth's demo command calls `prepare` on its home folder before serving (idempotent: trained once
per data fingerprint) and prints `try_it` with the server's address.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from the_voice.bootstrap import Where, bootstrap
from the_voice.routing import ENDPOINT


def prepare(home: Path, say: Callable[[str], None]) -> None:
    bootstrap(Where(home=str(home)), say=say)


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
