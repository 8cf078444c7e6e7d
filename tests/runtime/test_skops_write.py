"""`write_skops` writes skops' own file with a compact schema: same members, same arrays, same
JSON value, loaded and audited as skops' file is (a model with a text vocabulary, a pipeline with a
column transformer, a forest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zipfile import ZipFile

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from berth.runtime.flavors.skops_trust import check_trust
from berth.runtime.flavors.skops_write import write_skops

TEXTS = ["my card was stolen", "where is my transfer", "cancel the card", "the ATM kept my card"] * 5
LABELS = ["card", "transfer", "card", "atm"] * 5


def _text_model() -> Any:
    features = ColumnTransformer(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2)), "text"),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)), "text"),
        ]
    )
    return Pipeline([("features", features), ("classifier", LogisticRegression())]).fit(
        pd.DataFrame({"text": TEXTS}), LABELS
    )


def _numeric_models() -> list[tuple[Any, np.ndarray]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    scaled = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(x, y)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    return [(scaled, x), (forest, x)]


def _canonical(schema: Any) -> tuple[Any, dict[int, str]]:
    """The schema with ids and array file names replaced by their order of first appearance, and
    each file's number -> its name."""
    ids: dict[Any, int] = {}
    files: dict[str, int] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__":
                    out[key] = ids.setdefault(value, len(ids))
                elif key == "file":
                    out[key] = files.setdefault(value, len(files))
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema), {number: name for name, number in files.items()}


def _members(path: Path) -> dict[str, bytes]:
    with ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("which", ["text", "scaled", "forest"])
def test_the_file_is_skops_own_but_for_the_schemas_whitespace(which: str, tmp_path: Path) -> None:
    model, rows = (
        (_text_model(), pd.DataFrame({"text": TEXTS}))
        if which == "text"
        else dict(zip(["scaled", "forest"], _numeric_models(), strict=True))[which]
    )
    ours, theirs = tmp_path / "ours.skops", tmp_path / "theirs.skops"
    write_skops(model, ours)
    skops.io.dump(model, theirs)

    mine, skops_own = _members(ours), _members(theirs)
    assert list(mine)[-1] == list(skops_own)[-1] == "schema.json"
    assert len(mine["schema.json"]) < len(skops_own["schema.json"])
    # skops names each array file and each node's __id__ by its object's id, which differs from
    # one dump to the next: both are numbered in the order of first appearance before comparing
    ours_schema, our_files = _canonical(json.loads(mine["schema.json"]))
    their_schema, their_files = _canonical(json.loads(skops_own["schema.json"]))
    assert ours_schema == their_schema
    assert len(mine) == len(skops_own) == len(our_files) + 1
    for number, name in our_files.items():
        assert mine[name] == skops_own[their_files[number]], name

    assert check_trust(ours, trusted=False).unapproved == check_trust(theirs, trusted=False).unapproved
    loaded = skops.io.load(ours, trusted=skops.io.get_untrusted_types(file=ours))
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
