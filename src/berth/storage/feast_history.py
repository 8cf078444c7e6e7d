"""The ``feast+flight://host:port/FEAST_VIEW?project=P`` offline history: Feast's offline feature
server (``feast serve_offline``), over Arrow Flight.

berth does not import Feast (its SDK pins pandas < 3): `FeastHistory.as_of` speaks the protocol of
Feast's own client, ``RemoteOfflineStore`` (``feast/infra/offline_stores/remote.py``; the server is
``feast/offline_server.py``, Feast 0.67), with ``pyarrow.flight``. One `as_of` is one
``DoExchange`` stream, as Feast 0.67's client does it (the older ``DoPut``, ``GetFlightInfo``,
``DoGet`` sequence keeps each request's rows in the server's memory between calls: a client that
stops half-way leaves them there, and replicas behind one address do not share them):

- its descriptor is the command, the JSON ``{"command_id", "api": "get_historical_features",
  "feature_view_names": [FEAST_VIEW], "name_aliases": [null], "feature_refs":
  ["FEAST_VIEW:feature", ...], "project": P, "full_feature_names": false}``;
- berth writes each distinct (key, at) once: Feast's join key (the berth view's ``entity``; the
  keys as text), ``event_timestamp`` and a row number of berth's (Feast's file store answers rows
  that share a key and a time once, feast-dev/feast#6787);
- Feast answers on the same stream with its point-in-time join: for each row the latest value at or
  before ``event_timestamp`` within the Feast view's TTL, in an order of its own, and without the
  rows it has no value for (its file store drops a key whose values all come after the time); the
  row numbers put the answer back in the callers' order, null where Feast left a row out.

The project is part of the URI because Feast's server has no default: the command must name it.
Every call has a deadline (`timeout_s`); a Flight or Arrow error, or an answer of another shape, is
FEATURES_UNAVAILABLE (a 503) here, at the boundary.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl

from berth.core.errors import BerthError, ErrorCode

SCHEME: Final = "feast+flight"
AT: Final = pa.timestamp("us", tz="UTC")
TIMEOUT_S: Final = 60.0
EVENT_TIMESTAMP: Final = "event_timestamp"
_ROW: Final = "__berth_row"
_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
_FEATURE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
_HOST: Final = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")


@dataclass(frozen=True, slots=True)
class FlightAddress:
    """What a ``feast+flight`` URI names: the server, the Feast view and its project."""

    location: str
    view: str
    project: str


def parse_uri(uri: str) -> FlightAddress:
    """``feast+flight://host:port/FEAST_VIEW?project=P``, strictly: a host and a port, nothing else
    in the authority, one path segment and only ``project`` in the query (INVALID_REQUEST)."""
    if not isinstance(uri, str) or len(uri) > 1024 or any(ord(c) < 33 for c in uri):
        raise _invalid(f"{uri!r:.200} is not a {SCHEME}:// URI")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise _invalid(f"{uri!r:.200}: {exc}") from None
    if parts.scheme != SCHEME:
        raise _invalid(f"{uri!r:.200} is not a {SCHEME}:// URI")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise _invalid(f"{uri!r:.200}: only a host and a port, a Feast view and ?project=")
    netloc_host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if not netloc_host or not _HOST.match(netloc_host) or port is None or not 0 < port < 65536:
        raise _invalid(f"{uri!r:.200} must name a host and a port: {SCHEME}://host:port/FEAST_VIEW")
    view = parts.path.removeprefix("/")
    if not _NAME.match(view):
        raise _invalid(f"{uri!r:.200} must name one Feast feature view: {SCHEME}://host:port/FEAST_VIEW")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _invalid(f"{uri!r:.200}: an unreadable query") from None
    projects = query.pop("project", [])
    if query or len(projects) != 1 or not _NAME.match(projects[0]):
        raise _invalid(f"{uri!r:.200} must name the Feast project, and only it: ?project=P")
    return FlightAddress(f"grpc://{netloc_host}:{port}", view, projects[0])


class FeastHistory:
    """A view's history in Feast's offline store, through ``feast serve_offline`` (see the module doc)."""

    def __init__(
        self,
        uri: str,
        *,
        entity: str,
        types: Mapping[str, pa.DataType] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        """`entity`: Feast's join key (the berth view's entity key name); `types`: the arrow type of
        each feature in the answer (the berth view's dtypes; Feast's file store answers an int64
        feature with a null in it as float64), else as Feast answers; `timeout_s`: the deadline of
        each call."""
        self.address = parse_uri(uri)
        if not _FEATURE.match(entity) or entity in (EVENT_TIMESTAMP, _ROW):
            raise _invalid(f"{entity!r:.200} cannot be Feast's join key")
        self._entity = entity
        self._types = dict(types or {})
        self._options = fl.FlightCallOptions(timeout=timeout_s)

    def as_of(self, features: Sequence[str], entities: pa.Table) -> pa.Table:
        """`entities` has columns ``key`` (string) and ``at`` (timestamp[us, tz=UTC]); the answer has
        the same rows in the same order with one column per feature, null where Feast has no value
        at or before ``at`` within its TTL (and for a row without a key or a time)."""
        wanted = list(dict.fromkeys(features))
        bad = [f for f in wanted if not _FEATURE.match(f) or f in (self._entity, EVENT_TIMESTAMP, _ROW)]
        if not wanted or bad:
            raise _invalid(f"features {bad or wanted!r:.200} cannot be read from Feast")
        pairs, pair_of_row = _pairs(entities)
        if pairs.num_rows == 0:
            found = pa.table({f: pa.nulls(0, self._types.get(f, pa.null())) for f in wanted})
        else:
            rows = pa.table(
                {
                    self._entity: pairs.column("key"),
                    EVENT_TIMESTAMP: pairs.column("at"),
                    _ROW: pa.array(range(pairs.num_rows), pa.int64()),
                }
            )
            found = _by_row(self._call(wanted, rows), wanted, pairs.num_rows)
        columns = {f: self._typed(f, found.column(f).take(pair_of_row)) for f in wanted}
        return pa.table(columns)

    def _typed(self, feature: str, values: pa.ChunkedArray) -> pa.ChunkedArray:
        kind = self._types.get(feature)
        if kind is None or values.type == kind:
            return values
        try:
            return values.cast(kind)
        except pa.ArrowException as exc:
            raise _unavailable(f"feast answered {feature!r} as {values.type}, not {kind}: {exc}") from None

    def _call(self, features: list[str], rows: pa.Table) -> pa.Table:
        a = self.address
        command = {
            "command_id": str(uuid.uuid4()),
            "api": "get_historical_features",
            "feature_view_names": [a.view],
            "name_aliases": [None],
            "feature_refs": [f"{a.view}:{f}" for f in features],
            "project": a.project,
            "full_feature_names": False,
        }
        descriptor = fl.FlightDescriptor.for_command(json.dumps(command))
        try:
            with fl.connect(a.location) as client:
                writer, reader = client.do_exchange(descriptor, self._options)
                with writer:
                    writer.begin(rows.schema)
                    writer.write_table(rows)
                    writer.done_writing()
                    return reader.read_all()
        except (fl.FlightError, pa.ArrowException, OSError) as exc:
            raise _unavailable(f"feast {a.location}: {type(exc).__name__}: {_first_line(exc)}") from exc


def _pairs(entities: pa.Table) -> tuple[pa.Table, pa.Array]:
    """The distinct (key, at) of `entities` (Feast's file store answers a repeated pair once), and
    for each row the number of its pair (null for a row without a key or a time)."""
    try:
        keys = entities.column("key").cast(pa.string())
        ats = entities.column("at").cast(AT)
    except (KeyError, pa.ArrowException) as exc:
        raise _invalid(f"entity rows need 'key' (text) and 'at' (a UTC timestamp): {exc}") from None
    rows = pa.table({"key": keys, "at": ats, "i": pa.array(range(entities.num_rows), pa.int64())})
    known = rows.filter(pc.and_(pc.is_valid(rows.column("key")), pc.is_valid(rows.column("at"))))
    pairs = known.group_by(["key", "at"], use_threads=False).aggregate([])
    numbered = pairs.append_column("p", pa.array(range(pairs.num_rows), pa.int64()))
    joined = rows.join(numbered, keys=["key", "at"], join_type="left outer", use_threads=False)
    return pairs, joined.sort_by("i").column("p").combine_chunks()


def _by_row(answer: pa.Table, features: list[str], total: int) -> pa.Table:
    """Feast's answer (in any order, with more columns, without the rows it has no value for) as the
    features of rows 0 to `total` - 1, null where Feast left a row out."""
    missing = [c for c in (_ROW, *features) if c not in answer.column_names]
    numbers = answer.column(_ROW) if not missing else None
    if numbers is None or not pa.types.is_integer(numbers.type) or answer.num_rows > total:
        raise _unavailable(
            f"feast answered {answer.num_rows} rows of {total}, columns {answer.column_names!r:.300}"
        )
    where: list[int | None] = [None] * total
    for j, number in enumerate(numbers.to_pylist()):
        if number is None or not 0 <= number < total or where[number] is not None:
            raise _unavailable(f"feast answered a row that was not asked for, or twice: {number!r}")
        where[number] = j
    positions = pa.array(where, pa.int64())
    return pa.table({f: answer.column(f).take(positions) for f in features})


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""


def _invalid(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_REQUEST, message)


def _unavailable(message: str) -> BerthError:
    return BerthError(ErrorCode.FEATURES_UNAVAILABLE, message)
