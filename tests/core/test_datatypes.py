"""The OIP datatype names (numpy-free, for signatures) and their numpy counterparts are one set."""

from __future__ import annotations

from berth.core.datatypes import DATATYPES, FLOAT_DATATYPES, INTEGER_DATATYPES
from berth.core.numpy_types import OIP_TO_NUMPY, numpy_dtype, oip_datatype


def test_every_datatype_has_a_numpy_dtype_that_maps_back() -> None:
    assert set(OIP_TO_NUMPY) == DATATYPES
    assert {oip_datatype(numpy_dtype(name)) for name in DATATYPES} == DATATYPES
    assert FLOAT_DATATYPES | INTEGER_DATATYPES | {"BOOL", "BYTES"} == DATATYPES
