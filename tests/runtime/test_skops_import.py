"""skops and scikit-learn's estimator list are imported without PyTorch (`skops_import`), and give
the same lists as an import that pulls PyTorch in. Each case runs in a fresh interpreter: the test
process may have imported torch already."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tests.support.unavailable import unavailable

LISTS = """
import json, sys
from sklearn.utils import all_estimators
{setup}
import skops.io._trusted_types as trusted
names = sorted(f"{{c.__module__}}.{{c.__name__}}" for _, c in {listing})
print(json.dumps({{"skops": sorted(trusted.SKLEARN_ESTIMATOR_TYPE_NAMES), "estimators": names,
                  "torch": "torch" in sys.modules}}))
"""


def _run(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr  # the interpreter's traceback, not only its exit status
    return dict(json.loads(done.stdout.splitlines()[-1]))


def _needs_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        unavailable("torch is not installed: nothing to keep out", must_run="the torch extra (make install)")


def test_skops_and_the_estimator_list_come_without_torch_and_list_the_same() -> None:
    _needs_torch()
    plain = _run(LISTS.format(setup="", listing="all_estimators()"))
    guarded = _run(
        LISTS.format(
            setup="from berth.runtime.flavors.skops_import import estimator_classes, skops_io\nskops_io()",
            listing="estimator_classes()",
        )
    )
    assert plain["torch"] is True  # what the guard is for: the walk imports torch otherwise
    assert guarded["torch"] is False
    assert guarded["skops"] == plain["skops"]
    assert guarded["estimators"] == plain["estimators"]


def test_the_namespaces_import_as_usual_afterwards() -> None:
    _needs_torch()
    code = """
import json, sys
from berth.runtime.flavors.skops_import import ARRAY_API_NAMESPACES, skops_io
skops_io()
left = [name for name in ARRAY_API_NAMESPACES if name in sys.modules]
import sklearn.externals.array_api_compat.torch as namespace
print(json.dumps({"left": left, "torch": "torch" in sys.modules, "namespace": namespace.__name__}))
"""
    assert _run(code) == {"left": [], "torch": True, "namespace": "sklearn.externals.array_api_compat.torch"}


def test_pushing_and_loading_a_scikit_learn_model_imports_no_torch(tmp_path: Path) -> None:
    """Every skops path of the platform (write, audit, load) goes through `skops_import`."""
    _needs_torch()
    code = f"""
import json, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
import berth
x = np.arange(40, dtype=float).reshape(20, 2)
model = LogisticRegression().fit(x, [0, 1] * 10)
berth.push(model, name="lr", home={str(tmp_path / "home")!r})
loaded = berth.load_model("lr", home={str(tmp_path / "home")!r})
print(json.dumps({{"torch": "torch" in sys.modules, "answer": len(loaded.predict(x[:2]))}}))
"""
    ran = _run(code)
    assert ran["torch"] is False
    assert ran["answer"] == 2
