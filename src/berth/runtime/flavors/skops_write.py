"""Writing a ``.skops`` file: exactly ``skops.io.dump``'s file, with its schema written compact.

``skops.io.dump`` (0.16) writes the object tree's ``schema.json`` with ``json.dumps(state,
indent=2)``. With an indent, Python's ``json`` encodes in pure Python (its C encoder serves only
compact output), and a model with a large vocabulary has a large schema: The Voice's two TF-IDF
vocabularies (about 32,000 terms, each a node of its own) make a 20 MB schema whose encoding was
about 80% of the dump, several seconds on every push of a Voice model. `write_skops` runs skops'
own steps (`get_state` of the object into a zip file, the arrays written by skops as it goes,
then the protocol and version fields) and encodes the schema without the indent. The file differs
from skops' only by whitespace inside ``schema.json``: the same members in the same order, the same
array files byte for byte, the same JSON value (``tests/runtime/test_skops_write.py``), read by
``skops.io.load`` and audited by `berth.runtime.flavors.skops_trust` as before.

It uses two names from skops' private ``_utils`` (``SaveContext``, ``get_state``): skops is pinned
(``constraints.txt``), and the test above compares the two files, so an upgrade that changes them
fails there, not in production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zipfile import ZIP_STORED, ZipFile

from berth.runtime.flavors.skops_import import skops_io


def write_skops(obj: Any, path: Path) -> None:
    """Write `obj` to `path` in skops' format (what ``skops.io.dump(obj, path)`` writes, compact)."""
    import skops

    skops_io()  # skops.io._utils needs its package imported first, without the torch namespace
    from skops.io._utils import SaveContext, get_state

    with path.open("wb") as out, ZipFile(out, "w", compression=ZIP_STORED) as zip_file:
        context = SaveContext(zip_file=zip_file)
        state = get_state(obj, context)
        context.clear_memo()
        state["protocol"] = context.protocol
        state["_skops_version"] = skops.__version__
        zip_file.writestr("schema.json", json.dumps(state, separators=(",", ":")))
