"""Retraining with champion/challenger: a registered trainer, the analysts' corrections, a gold
hold-out, and a promotion only when the challenger beats the champion by a margin."""
