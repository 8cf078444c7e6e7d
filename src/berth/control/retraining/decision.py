"""Whether a challenger replaces the champion, and the reason written into the alias history."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    promote: bool
    reason: str


def decide(
    *,
    actor: str,
    model: str,
    champion: int | None,
    champion_score: float | None,
    challenger: int,
    challenger_score: float,
    margin: float,
    holdout_rows: int,
    min_holdout: int,
) -> Decision:
    """Promote when there is no champion, or when the challenger's hold-out accuracy is at least the
    champion's plus `margin` on at least `min_holdout` gold rows."""
    scores = f"challenger v{challenger} {challenger_score:.4f}"
    if champion is None or champion_score is None:
        return Decision(True, f"{actor}: {model} had no champion; {scores} on {holdout_rows} hold-out rows")
    scores += f" vs champion v{champion} {champion_score:.4f} on {holdout_rows} hold-out corrections"
    if holdout_rows < min_holdout:
        return Decision(
            False, f"{actor}: kept v{champion}: only {holdout_rows} hold-out corrections (< {min_holdout})"
        )
    gain = challenger_score - champion_score
    if gain >= margin:
        return Decision(True, f"{actor}: {scores}: gains {gain:+.4f} >= margin {margin}")
    return Decision(False, f"{actor}: kept v{champion}: {scores}: gains {gain:+.4f} < margin {margin}")
