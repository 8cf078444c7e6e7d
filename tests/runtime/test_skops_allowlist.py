"""The skops allow-list holds types, never arbitrary callables, and berth does not lean on skops'
own defaults (issue 12, item 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.skops_allowlist import every_allowed_type, loader_types, object_types, resolve
from berth.runtime.flavors.skops_trust import audit, check_trust


def test_every_allowed_type_is_a_class_except_numpys_ufuncs() -> None:
    for loader, names in loader_types().items():
        if loader == "JsonNode":  # parsed with json.loads: its type name is never imported
            continue
        for name in names:
            found = resolve(name)
            if loader == "FunctionNode":
                assert isinstance(found, np.ufunc), name
            else:
                assert isinstance(found, type), (loader, name)


def test_every_scikit_learn_estimator_is_allowed_and_no_function_is() -> None:
    from sklearn.utils import all_estimators

    allowed = object_types()
    for _, cls in all_estimators():
        assert any(name.endswith(f".{cls.__name__}") for name in allowed), cls
    for dangerous in (
        "sklearn.utils._testing.assert_run_python_script_without_output",
        "numpy.savetxt",
        "numpy.load",
        "numpy.fromfile",
        "builtins.eval",
        "functools.partial",
        "operator.attrgetter",
        "sklearn.utils.validation.check_array",
    ):
        assert dangerous not in every_allowed_type()


def test_a_function_skops_trusts_by_default_is_not_trusted_by_berth(tmp_path: Path) -> None:
    """skops trusts scipy.special's ufuncs by default; berth's list does not, so a file using one
    needs a maintainer's trust even though skops' audit reports nothing."""
    import skops.io
    from scipy.special import expit
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "expit.skops"
    skops.io.dump(FunctionTransformer(expit).fit(np.eye(2)), path)
    assert skops.io.get_untrusted_types(file=path) == []
    assert [name.rsplit(".", 1)[-1] for name in audit(path).unapproved] == ["expit"]
    with pytest.raises(BerthError) as refused:
        check_trust(path, trusted=False)
    assert refused.value.code is ErrorCode.UNTRUSTED_ARTIFACT


MAKE_ON_EIGHT_THREADS = """
import threading
from berth.runtime.flavors.skops_allowlist import every_allowed_type

start = threading.Barrier(8)
made, failed = [], []

def make():
    start.wait()
    try:
        made.append(every_allowed_type())
    except BaseException as exc:
        failed.append(repr(exc))

threads = [threading.Thread(target=make) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert not failed, failed
assert len(made) == 8 and all(m is made[0] for m in made), len(made)
"""


def test_models_loading_on_many_threads_make_the_list_once() -> None:
    """The list is first made when models load, on several threads at once; making it imports
    every scikit-learn module, and two threads importing one that fails to import raced in the
    import system (a KeyError that failed a model's load). In a fresh interpreter: one list."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", MAKE_ON_EIGHT_THREADS], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
