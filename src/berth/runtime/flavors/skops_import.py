"""Importing skops without importing PyTorch: ``skops.io`` and scikit-learn's estimator list.

``import skops.io`` lists scikit-learn's estimators (``sklearn.utils.all_estimators``, in
``skops.io._trusted_types``), and so does berth's allow-list (`berth.runtime.flavors.skops_allowlist`).
The listing walks scikit-learn's packages with ``pkgutil.walk_packages``, which imports every
package to find its sub-packages, among them ``sklearn.externals.array_api_compat.torch``, CuPy's
and Dask's: array-API namespaces that import their library. Where berth's ``torch`` extra is
installed, that import is PyTorch itself: about 3 s of CPU, half of ``import skops.io``, paid by
every process that pushes, audits or loads a ``.skops`` file (`berth push`, `berth predict`, a
server starting with scikit-learn models). None of those namespaces holds an estimator.

`skops_io` and `estimator_classes` mark the three namespaces as absent in ``sys.modules`` while they
import or list, as they would be without the libraries (``walk_packages`` skips a package that
fails to import), and take the marks away after, so a caller that asks for one of them later (an
array-API dispatch on torch tensors) imports it as usual. The lists are the ones skops and
scikit-learn make without those libraries (``tests/runtime/test_skops_import.py``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

ARRAY_API_NAMESPACES = tuple(
    f"sklearn.externals.array_api_compat.{name}" for name in ("torch", "cupy", "dask")
)
"""scikit-learn's array-API namespaces that import a library of their own (numpy's does not)."""

_guard = threading.RLock()


@contextmanager
def _without_array_api_namespaces() -> Iterator[None]:
    with _guard:
        marked = [name for name in ARRAY_API_NAMESPACES if name not in sys.modules]
        for name in marked:
            sys.modules[name] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError
        try:
            yield
        finally:
            for name in marked:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]


def skops_io() -> ModuleType:
    """The ``skops.io`` module, imported (once) without the array-API namespaces."""
    module = sys.modules.get("skops.io")
    if module is not None and hasattr(module, "load"):  # imported, not being imported
        return module
    with _without_array_api_namespaces():
        import skops.io  # noqa: F401  # the module is read from sys.modules below

    return sys.modules["skops.io"]


def estimator_classes() -> list[tuple[str, type[Any]]]:
    """``sklearn.utils.all_estimators()``, listed without the array-API namespaces."""
    from sklearn.utils import all_estimators

    with _without_array_api_namespaces():
        return list(all_estimators())
