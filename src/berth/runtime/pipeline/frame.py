"""`Frame`: the columns a pipeline step reads and writes, and its conversions from and to tensors.

A frame is an ordered mapping column name -> numpy array whose first axis is the rows; every
column has the same number of rows (2-D columns such as ``predict_proba`` [N, k] are columns too).
Frames are immutable by convention: the helpers return new frames and share the arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from berth.core.codecs._arrays import Array, is_text, objects_as_numbers
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import oip_datatype
from berth.core.tensors import Tensor


class Frame(Mapping[str, Array]):
    """Named columns with a common first axis (the rows)."""

    __slots__ = ("_columns", "_rows")

    def __init__(self, columns: Mapping[str, Array], rows: int | None = None) -> None:
        counts = {name: _rows_of(name, array) for name, array in columns.items()}
        distinct = set(counts.values())
        if rows is not None:
            distinct.add(rows)
        if len(distinct) > 1:
            raise BerthError(ErrorCode.INVALID_TENSOR, f"columns disagree on the number of rows: {counts}")
        self._columns: dict[str, Array] = dict(columns)
        self._rows = distinct.pop() if distinct else 0

    @property
    def rows(self) -> int:
        """The number of rows (also of a frame without columns)."""
        return self._rows

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(self._columns)

    def __getitem__(self, name: str) -> Array:
        return self._columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {a.dtype}{list(a.shape)}" for n, a in self._columns.items())
        return f"Frame({self._rows} rows; {shapes})"

    def with_columns(self, columns: Mapping[str, Array]) -> Frame:
        """This frame with `columns` replaced or appended (new names go last)."""
        return Frame({**self._columns, **columns}, self._rows)

    def select(self, names: Iterable[str]) -> Frame:
        """Only the columns `names`, in that order (each must exist: KeyError otherwise)."""
        return Frame({name: self._columns[name] for name in names}, self._rows)

    def drop(self, names: Iterable[str]) -> Frame:
        """This frame without the columns `names` (absent ones are ignored)."""
        gone = set(names)
        return Frame({n: a for n, a in self._columns.items() if n not in gone}, self._rows)

    def rename(self, mapping: Mapping[str, str]) -> Frame:
        """Columns renamed by `mapping` (old -> new), keeping their positions."""
        return Frame({mapping.get(n, n): a for n, a in self._columns.items()}, self._rows)


def frame_from_tensors(tensors: Iterable[Tensor]) -> Frame:
    """A frame with one column per tensor (shape [N] or [N, k, ...]).

    Duplicate names are INVALID_REQUEST; a 0-d tensor or tensors disagreeing on N are INVALID_TENSOR.
    """
    columns: dict[str, Array] = {}
    for tensor in tensors:
        if tensor.name in columns:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"duplicate input {tensor.name!r}")
        columns[tensor.name] = tensor.data
    return Frame(columns)


def frame_to_tensors(frame: Frame) -> list[Tensor]:
    """One tensor per column, in order; the datatype follows the numpy dtype.

    Object columns become BYTES when they hold text (a missing value, None, is sent as ``""``,
    berth's convention for missing strings), or numbers when they hold numbers (None is NaN);
    anything else is PIPELINE_STEP_FAILED naming the column.
    """
    return [_tensor(name, array) for name, array in frame.items()]


def _rows_of(name: str, array: Array) -> int:
    if not isinstance(array, np.ndarray) or array.ndim == 0:
        raise BerthError(ErrorCode.INVALID_TENSOR, f"column {name!r} must be an array with a row axis")
    return int(array.shape[0])


def _tensor(name: str, array: Array) -> Tensor:
    if array.dtype.kind in ("U", "S", "T"):
        array = array.astype(object)
    elif array.dtype.kind == "O" and not is_text(array):
        array = _settled_objects(name, array)
    try:
        datatype = oip_datatype(array.dtype)
    except BerthError as exc:
        raise BerthError(ErrorCode.PIPELINE_STEP_FAILED, f"column {name!r}: {exc.message}") from None
    return Tensor(name, datatype, tuple(array.shape), array)


def _settled_objects(name: str, array: Array) -> Array:
    values = array.reshape(-1).tolist()
    present = [v for v in values if v is not None]
    if all(isinstance(v, str | bytes) for v in present):
        return np.array(["" if v is None else v for v in values], dtype=object).reshape(array.shape)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(array.shape)
    numeric = objects_as_numbers(array)
    if numeric is not None:
        return numeric
    kinds = sorted({type(v).__name__ for v in values})
    raise BerthError(
        ErrorCode.PIPELINE_STEP_FAILED,
        f"column {name!r} holds {kinds}; a column must hold only text, only numbers or only booleans",
        column=name,
    )
