"""The types berth lets a skops file build without a maintainer's trust: an explicit allow-list.

skops rebuilds an object tree from a file; each node names a loader (``ObjectNode``,
``NdArrayNode``…) and a type (``module.QualName``) that the loader imports and *calls* (a class
with ``__new__``/``__init__``/``__setstate__``, a function as a value). Trusting a whole module
(``sklearn.*``) therefore trusted every function in it, with arguments from the file. Here each
loader may build only the types listed for it, and every listed type is checked, when the list
is made, to resolve (the way skops resolves it: import the module, take the attribute) to a
*class*, never a function, with one reviewed exception: numpy's ufuncs (elementwise arithmetic
kernels that open no file and run no code of the caller's; ``FunctionTransformer(np.log1p)``).

What is on the list:
- every estimator scikit-learn lists (`sklearn.utils.all_estimators`, listed by
  `berth.runtime.flavors.skops_import`), and the internal types
  fitted pipelines hold (loss and link objects, the histogram binner, the fitted trees of random
  forests and gradient boosting, whose node arrays `berth.runtime.flavors.fitted_state` checks);
- numpy arrays, dtypes, scalar types, ``RandomState``/``Generator`` and bit generators;
- scipy.sparse matrix and array classes;
- builtin containers and scalars;
- berth's own model parts (`BERTH_TYPES`): the sentence encoder, whose state is a reference (an
  encoder's registered name and its weights' sha256, checked by its ``__setstate__``), never code
  or weights (`berth.runtime.sentence_encoder`).

Not on it (a maintainer's explicit, audited trust is needed): any function other than a numpy
ufunc, ``functools.partial``, bound methods, ``operator`` getters, ``zoneinfo`` and every loader
not listed in `LOADER_TYPES`, custom classes, and scikit-learn internals with unchecked native
indices (KD/Ball trees, distance metrics).
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from berth.runtime.flavors.skops_import import estimator_classes, skops_io

_log = logging.getLogger(__name__)
_making = threading.RLock()
"""Held while a list is made: making one imports every scikit-learn module
(`sklearn.utils.all_estimators`), and two threads importing the same module that fails to import
(``sklearn.externals.array_api_compat.torch`` without torch) race inside the import system (one
drops it from ``sys.modules`` while the other reads it: a KeyError). Models load on several
threads; the lists are made once, by one of them."""


T = TypeVar("T")


def cache(make: Callable[[], T]) -> Callable[[], T]:
    """`functools.cache` for a list with no arguments, made by one thread at a time."""
    cached = functools.cache(make)

    @functools.wraps(make)
    def once() -> T:
        with _making:
            return cached()

    return once


BUILTIN_SCALARS = frozenset(f"builtins.{n}" for n in ("str", "int", "float", "bool", "complex", "NoneType"))

SKLEARN_INTERNAL_TYPES = (
    "sklearn._loss.link.HalfLogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HalfTweedieLoss",
    "sklearn._loss.loss.HalfTweedieLossIdentity",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.PinballLoss",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
"""Reviewed scikit-learn internals that fitted estimators hold (plain Python or numpy state)."""

TREE_TYPE = "sklearn.tree._tree.Tree"

BERTH_TYPES = ("berth.runtime.sentence_encoder.SentenceEncoder",)
"""berth's model parts: classes whose ``__setstate__`` checks the state a file gives them."""

CYTHON_LOSSES = (
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyExponentialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfGammaLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHalfTweedieLoss",
    "sklearn._loss._loss.CyHalfTweedieLossIdentity",
    "sklearn._loss._loss.CyHuberLoss",
    "sklearn._loss._loss.CyPinballLoss",
    "sklearn.linear_model._sgd_fast.EpsilonInsensitive",
    "sklearn.linear_model._sgd_fast.Hinge",
    "sklearn.linear_model._sgd_fast.ModifiedHuber",
    "sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive",
    "sklearn.linear_model._sgd_fast.SquaredHinge",
)
"""Loss objects rebuilt by skops' ``LossNode`` (constructor: the loss class, arguments: numbers)."""


def resolve(name: str) -> object | None:
    """The object at ``module.attr`` the way skops resolves it (import the module, take the
    attribute), or None when there is none."""
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None


def type_name(cls: type) -> str:
    """``module.QualName`` as skops writes it for a class."""
    skops_io()  # skops.io._utils needs its package imported first, without the torch namespace
    from skops.io._utils import get_module

    return f"{get_module(cls)}.{cls.__name__}"


def _classes(names: set[str]) -> frozenset[str]:
    """The names of `names` that resolve to a class; anything else is dropped (and logged)."""
    kept = set()
    for name in names:
        if isinstance(resolve(name), type):
            kept.add(name)
        else:
            _log.warning("skops allow-list: %s is not a class here; it is left out", name)
    return frozenset(kept)


def _estimators() -> set[str]:
    return {type_name(cls) for _, cls in estimator_classes() if type_name(cls).startswith("sklearn.")}


def _numpy_types() -> set[str]:
    import numpy as np

    scalars = {type_name(t) for t in np.sctypeDict.values() if type_name(t).startswith("numpy")}
    return scalars | {"numpy.ndarray"}


def _bit_generators() -> frozenset[str]:
    import numpy as np

    return frozenset(
        f"numpy.random.{name}"
        for name in dir(np.random)
        if isinstance(obj := getattr(np.random, name), type)
        and issubclass(obj, np.random.BitGenerator)
        and obj is not np.random.BitGenerator
    )


def _sparse_types() -> set[str]:
    import scipy.sparse as sp

    return {
        type_name(obj)
        for name in dir(sp)
        if isinstance(obj := getattr(sp, name), type) and issubclass(obj, sp.spmatrix | sp.sparray)
    }


def _ufuncs() -> frozenset[str]:
    """numpy's ufuncs by public name (``numpy.log1p``), each checked to be a ``numpy.ufunc``."""
    import numpy as np

    return frozenset(f"numpy.{n}" for n in dir(np) if isinstance(getattr(np, n), np.ufunc))


@cache
def object_types() -> frozenset[str]:
    """Classes an ``ObjectNode`` (``cls.__new__`` then ``__setstate__``) or a ``TypeNode`` may
    name: estimators and reviewed internals, berth's model parts, numpy's array and scalar types,
    builtin scalars."""
    return _classes(
        _estimators()
        | set(SKLEARN_INTERNAL_TYPES)
        | set(BERTH_TYPES)
        | _numpy_types()
        | set(BUILTIN_SCALARS - {"builtins.NoneType"})
        | {"builtins.dict", "builtins.list", "builtins.tuple", "builtins.set"}
    )


@cache
def loader_types() -> dict[str, frozenset[str]]:
    """For each skops loader berth accepts untrusted, the types it may build."""
    numpy_arrays = _classes(_numpy_types())
    return {
        "DictNode": _classes({"builtins.dict", "collections.OrderedDict"}),
        "DefaultDictNode": _classes({"collections.defaultdict"}),
        "ListNode": _classes({"builtins.list"}),
        "SetNode": _classes({"builtins.set"}),
        "TupleNode": _classes({"builtins.tuple"}),
        "BytesNode": _classes({"builtins.bytes"}),
        "BytearrayNode": _classes({"builtins.bytearray"}),
        "SliceNode": _classes({"builtins.slice"}),
        "JsonNode": BUILTIN_SCALARS,  # parsed with json.loads: the type is never imported
        "FunctionNode": _ufuncs(),
        "TypeNode": object_types(),
        "ObjectNode": object_types(),
        "NdArrayNode": numpy_arrays,
        "MaskedArrayNode": _classes({"numpy.ma.core.MaskedArray"}),
        "DTypeNode": _classes({"numpy.dtype"}),
        "RandomStateNode": _classes({"numpy.random.mtrand.RandomState"}),
        "RandomGeneratorNode": _classes({"numpy.random._generator.Generator"}),
        "SparseMatrixNode": _classes(_sparse_types()),
        "TreeNode": _classes({TREE_TYPE}),
        "LossNode": _classes(set(CYTHON_LOSSES)),
    }


@cache
def bit_generators() -> frozenset[str]:
    """The bit generators a ``RandomGeneratorNode`` may name (``numpy.random.PCG64``…)."""
    return _bit_generators()


@cache
def every_allowed_type() -> frozenset[str]:
    """Every type some loader may build without trust (what skops is told to trust)."""
    return frozenset().union(*loader_types().values(), bit_generators())
