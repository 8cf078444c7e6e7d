"""berth: push a trained model once, every team calls it as a service.

import berth
berth.push(model, name="churn", metrics={"accuracy": 0.93}, input_example=df.head())
berth.Client("http://127.0.0.1:8080").predict("churn", df)
berth.load_model("churn@production", url="http://127.0.0.1:8080").predict(df)
"""

from berth._version import __version__
from berth.client.access import open_access as access
from berth.client.catalog import open_catalog as catalog
from berth.client.consumers import open_consumers as consumers
from berth.client.endpoints import open_endpoints as endpoints
from berth.client.features import open_features as features
from berth.client.groups import open_groups as groups
from berth.client.inbox import open_inbox as inbox
from berth.client.inference import Client
from berth.client.jobs import open_jobs as jobs
from berth.client.models import load_model
from berth.client.monitor import open_monitor as monitor
from berth.client.records import open_records as records
from berth.client.sdk import open_registry, push
from berth.client.spark import spark_udf
from berth.client.transport import BerthDeprecationWarning
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import Signature, TensorSpec

__all__ = [
    "BerthDeprecationWarning",
    "BerthError",
    "Client",
    "ErrorCode",
    "Signature",
    "TensorSpec",
    "__version__",
    "access",
    "catalog",
    "consumers",
    "endpoints",
    "features",
    "groups",
    "inbox",
    "jobs",
    "load_model",
    "monitor",
    "open_registry",
    "push",
    "records",
    "spark_udf",
]
