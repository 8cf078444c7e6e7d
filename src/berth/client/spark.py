"""``berth.spark_udf(spark, "churn@production", url=...)``: a registered version as a Spark UDF.

The driver resolves the reference once (so every executor scores with the same version, even if
the alias moves meanwhile) and reads the signature for the UDF's return type; each Python worker
then loads that version once through `berth.load_model`, pinned to its number and artifact sha256
(`berth.runtime.spark_scoring`). Executors need berth (and the model's framework) installed, and
reach the registry as the driver does: the same `url` and `token` (shipped to them inside the UDF),
or the same `home` path on a shared file system. pyspark is imported by the call, never by
``import berth``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.client.models import DEFAULT_CACHE_BYTES, load_model, resolve_version
from berth.core.extras import require

if TYPE_CHECKING:
    from berth.runtime.local_model import LocalModel


@dataclass(frozen=True, slots=True)
class RegistryModel:
    """A version loaded by `berth.load_model` on an executor: pinned by number and sha256."""

    reference: str
    sha256: str
    url: str | None
    home: str | None
    token: str | None
    cache_dir: str | None
    cache_bytes: int

    @property
    def key(self) -> str:
        return self.sha256

    def __call__(self) -> LocalModel:
        return load_model(
            self.reference,
            url=self.url,
            home=self.home,
            token=self.token,
            cache_dir=self.cache_dir,
            cache_bytes=self.cache_bytes,
            sha256=self.sha256,
        )

    def __repr__(self) -> str:  # the token stays out of logs and error messages
        return f"RegistryModel({self.reference!r}, sha256={self.sha256[:12]!r})"


def spark_udf(
    spark: Any,
    model: str,
    *,
    url: str | None = None,
    home: str | Path | None = None,
    token: str | None = None,
    outputs: Sequence[str] = (),
    cache_dir: str | Path | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
) -> Any:
    """A pandas UDF scoring with ``MODEL@ALIAS`` / ``MODEL:VERSION`` / ``MODEL`` from the registry at
    `url` (or in `home`): ``df.withColumn("churn", udf(*input_columns))`` or ``udf(struct(...))``.

    Its return type comes from the version's signature: the column of the one output value, or a
    struct of the columns ``berth.Client.predict`` answers (``label``, ``proba_0``, ``proba_1`` …).
    `outputs` names the outputs wanted (default: the version's default outputs). `spark` is the
    driver's SparkSession (the UDF is made for its context).
    """
    require("spark", "berth.spark_udf")
    from berth.runtime.spark_scoring import scoring_udf

    del spark  # a pandas UDF belongs to no session; taken for the familiar call shape (as MLflow's)
    # what the driver's environment means is made explicit: executors have environments of their own
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url is None and home is None:
        home = os.environ.get("BERTH_HOME") or ".berth"
    token = token or os.environ.get("BERTH_TOKEN")
    version = resolve_version(model, url=url, home=home, token=token)
    source = RegistryModel(
        reference=f"{version.model}:{version.number}",
        sha256=version.artifact.sha256,
        url=url,
        home=None if home is None else str(Path(home).resolve()),
        token=token,
        cache_dir=None if cache_dir is None else str(Path(cache_dir).resolve()),
        cache_bytes=cache_bytes,
    )
    return scoring_udf(source, version.signature, outputs)
