"""``MODEL@ALIAS``, ``MODEL:VERSION`` or ``MODEL``: how a person names one version of a model.

The CLI (`berth image build churn@production`), `berth.load_model` and `berth.spark_udf` read the
same text the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.core.entities import check_alias_name, check_model_name
from berth.core.errors import BerthError, ErrorCode


@dataclass(frozen=True, slots=True)
class ModelRef:
    """``MODEL@ALIAS``, ``MODEL:VERSION`` or ``MODEL`` (its production alias, else its latest)."""

    name: str
    ref: str | None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        if not isinstance(text, str):
            raise BerthError(
                ErrorCode.INVALID_NAME, "a model reference is text: MODEL@ALIAS or MODEL:VERSION"
            )
        if "@" in text:
            name, _, alias = text.partition("@")
            return cls(check_model_name(name), check_alias_name(alias))
        if ":" in text:
            name, _, number = text.partition(":")
            if not number.isdigit() or int(number) < 1:
                raise BerthError(ErrorCode.INVALID_NAME, f"invalid version {number!r}: a number from 1")
            return cls(check_model_name(name), str(int(number)))
        return cls(check_model_name(text), None)

    def __str__(self) -> str:
        if self.ref is None:
            return self.name
        return f"{self.name}:{self.ref}" if self.ref.isdigit() else f"{self.name}@{self.ref}"
