"""berth: push a trained model once, every team calls it as a service."""

__version__ = "0.1.0"
