"""The ``feedback-router`` endpoint: text in -> category, team and confidence out.

Post-steps (berth's pipeline, see docs/pipelines.md):

1. ``map``: the model's category -> the owning team (`the_voice.teams`);
2. ``rules``: ``confidence`` is the largest class probability; then the bank's hard rule: anything
   mentioning a lost or stolen card (the words "lost" or "stole", and "card"; case-insensitive) goes
   to ``card-security``, whatever the model said;
3. ``rename`` ``predict`` -> ``category`` and ``select`` the three answers.

``deliver``: every answered text goes to the inbox of the team in its ``team`` answer (berth's
delivery to teams, docs/endpoints.md); a reroute there corrects ``category`` (feedback).
"""

from __future__ import annotations

from typing import Any, Final

from the_voice.teams import DEFAULT_TEAM, team_of_category

ENDPOINT: Final = "feedback-router"
MODEL: Final = "voice-classifier"
CHAMPION: Final = "champion"
TEAM: Final = "voice"
DELIVER: Final = {"by": "team", "label": "category"}
"""Each routed message to its team's inbox; a reroute corrects the category (docs/the-voice.md)."""

CARD_SECURITY_RULE: Final = (
    'if (text contains "lost" or text contains "stole") and text contains "card" then team = "card-security"'
)


def endpoint_spec() -> dict[str, Any]:
    return {
        "targets": [{"target": f"{MODEL}@{CHAMPION}"}],
        "pipeline": {
            "post": [
                {
                    "type": "map",
                    "column": "predict",
                    "into": "team",
                    "mapping": team_of_category(),
                    "default": DEFAULT_TEAM,
                },
                {
                    "type": "rules",
                    "rules": ["if true then confidence = round(max(predict_proba), 4)", CARD_SECURITY_RULE],
                },
                {"type": "rename", "columns": {"predict": "category"}},
                {"type": "select", "columns": ["category", "team", "confidence"]},
            ]
        },
        "deliver": DELIVER,
    }
