"""What answered a request: the endpoint, model, version and variant, as the data plane resolves them.

A transport hands a `Served` to the data plane with a request and reads it back when the request
is over, answered or failed: its fields are the labels the request is counted under. A field stays
"" until it is known (a request to an unknown name, or one refused before it reached a model,
is counted with empty labels: a name nobody serves never becomes a label).
"""

from __future__ import annotations


class Served:
    __slots__ = ("endpoint", "model", "variant", "version")

    def __init__(self) -> None:
        self.endpoint = ""
        """The name called: an endpoint, or a model called directly."""
        self.model = ""
        self.version = ""
        self.variant = ""
        """The endpoint's variant that answered ("" for a model called directly)."""
