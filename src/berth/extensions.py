"""berth's extension API: the contracts a package implements to add to berth, and the types they use.

A package extends berth through entry points declared in its ``pyproject.toml``; every berth
process that has the package installed (servers, workers, the CLI) finds them:

- ``berth.flavors``: a class, built with no arguments, that follows `Flavor` (a kind of model
  file: it packages and inspects artifacts and loads them as a `Runtime`);
- ``berth.jobs``: a `JobKind`, or a plain ``run(params, ctx)`` function (a background job);
- ``berth.trainers``: a factory taking the ``retrain`` job's ``trainer_options`` and returning a
  `Trainer`.

::

    [project.entry-points."berth.flavors"]
    catboost = "berth_catboost:CatBoostFlavor"

A flavor declares the suffixes of its files (`Flavor.file_suffixes`): the server keeps them on
uploads, so a new flavor needs no change to berth. Code in an endpoint's pipeline is a ``python``
step: a pushed pyfunc package whose callable is a `CustomFunction` (docs/pipelines.md).

Import extension contracts from this module only: every other berth module is an implementation
detail that may change. Importing it loads neither the server nor a database driver.
"""

from berth.control.jobs.context import JobContext, JobStopped
from berth.control.jobs.kind import JobKind
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JsonObject
from berth.core.signature import InputLayout, TensorSpec
from berth.core.tensors import ModelInput, ModelOutput
from berth.core.training import Labelled, Trainer
from berth.runtime.flavors.base import Flavor, Packaged, Runtime
from berth.runtime.pipeline.context import CustomFunction

__all__ = [
    "BerthError",
    "CustomFunction",
    "ErrorCode",
    "Flavor",
    "InputLayout",
    "JobContext",
    "JobKind",
    "JobStopped",
    "JsonObject",
    "Labelled",
    "ModelInput",
    "ModelOutput",
    "Packaged",
    "Runtime",
    "TensorSpec",
    "Trainer",
]
