"""The gateway role: one address for callers in front of the serving groups (docs/scaling.md)."""
