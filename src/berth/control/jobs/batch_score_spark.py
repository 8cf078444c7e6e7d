"""The batch-score job on Spark (``"engine": "spark"``): Parquet of the home folder scored on a cluster.

The worker running the job is the Spark driver. It resolves the version, fetches its artifact from
the artifact store (verified against its sha256) and ships it to the executors with
``SparkContext.addFile``: executors need berth and the model's framework, never the registry. Each
executor's Python worker loads the model once (`berth.runtime.spark_scoring`), verifying the
shipped file's sha256 first, with the runtime a server uses. The input is read with
``spark.read.parquet``, every row gets a prediction id (as the local engine gives them: 16 hex
characters of this run, then the row's ``monotonically_increasing_id`` in 16), and the output is
written as a Parquet folder into a hidden temporary folder next to the target, renamed into place
when complete: a failed or cancelled job leaves no partial output.

Paths follow the local engine's rules (relative to the home folder, never out of it, links out
refused), and a Parquet folder given as input may hold no symbolic links. On a cluster of several
hosts the home folder must be the same path on each (a shared file system), as for any Spark input
named by a local path. Progress is the finished share of the write's tasks; a cancelled job cancels
its Spark jobs and stops the application. One Spark application runs at a time per worker process.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from berth.control.jobs.batch_score import ID_COLUMN, PredictionIds, bad, inside, missing_input
from berth.control.jobs.context import JobContext
from berth.core.errors import BerthError, ErrorCode
from berth.core.extras import install_command, require
from berth.core.jobs import JsonObject

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from berth.core.entities import Version

ONE_APPLICATION = threading.Lock()
"""pyspark holds one SparkContext per process: Spark jobs of one worker run one after the other."""
_POLL_S: Final = 0.5


def run_on_spark(params: JsonObject, ctx: JobContext) -> JsonObject:
    require("spark", "batch-score with engine 'spark'")
    source = inside(ctx.home, params["input"])
    if not source.exists():
        raise missing_input(params["input"])
    if source.is_dir():
        _refuse_links(source, params["input"])
    target = inside(ctx.home, params["output"])
    if target == source or target.is_relative_to(source) or source.is_relative_to(target):
        raise bad("'output' must be apart from 'input'")
    version = ctx.workspace.store.resolve(params["model"], params["ref"])
    ctx.progress(0.0, f"starting Spark ({params['spark_master']}) for {version.model} v{version.number}")
    artifact = ctx.workspace.artifacts.fetch(version.artifact)  # verified against its sha256
    with ONE_APPLICATION, tempfile.TemporaryDirectory(prefix="berth-spark-") as shipping:
        spark = spark_session(params["spark_master"], f"berth batch-score job {ctx.job.id}")
        try:
            rows = _score(spark, version, artifact, shipping, source, target, params, ctx)
        finally:
            spark.stop()
    return {
        "model": version.model,
        "version": version.number,
        "rows": rows,
        "output": params["output"],
        "engine": "spark",
    }


def _score(
    spark: SparkSession,
    version: Version,
    artifact: Path,
    shipping: str,
    source: Path,
    target: Path,
    params: JsonObject,
    ctx: JobContext,
) -> int:
    from pyspark.sql import functions as sf

    from berth.runtime.spark_scoring import ShippedArtifact, input_columns, output_fields, scoring_udf

    fields = output_fields(version.signature, params["outputs"])
    file_name = f"berth-{version.artifact.sha256}"
    spark.sparkContext.addFile(str(linked(artifact, Path(shipping) / file_name)))
    frame = spark.read.parquet(str(source))
    taken = [f.name for f in fields if f.name in frame.columns]
    if taken:
        raise bad(f"the input already has columns named like the outputs: {taken}")
    udf = scoring_udf(ShippedArtifact(version, file_name), version.signature, params["outputs"])
    scored = frame
    if ID_COLUMN not in frame.columns:
        ids = PredictionIds()
        row = sf.lpad(sf.lower(sf.hex(sf.monotonically_increasing_id())), 16, "0")
        scored = scored.withColumn(ID_COLUMN, sf.concat(sf.lit(ids.prefix), row))
    answer = "__berth_answer"
    scored = scored.withColumn(answer, udf(*input_columns(version.signature, frame.columns)))
    if len(fields) == 1:
        scored = scored.withColumnRenamed(answer, fields[0].name)
    else:
        scored = scored.select(
            *[sf.col(f"`{c}`") for c in scored.columns if c != answer],
            *[sf.col(answer).getField(f.name).alias(f.name) for f in fields],
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{ctx.job.id}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        group = f"berth-job-{ctx.job.id}"
        while_reporting(spark, group, ctx, lambda: scored.write.parquet(str(partial)))
        rows = _rows_written(partial)
        _replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    ctx.progress(1.0, f"scored {rows} rows on Spark")
    return rows


def _rows_written(folder: Path) -> int:
    """The rows of the Parquet files Spark wrote, from their footers."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(part).num_rows for part in folder.glob("part-*.parquet"))


def spark_session(master: str, name: str) -> SparkSession:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise bad(f"engine 'spark' needs pyspark in the worker: {install_command('spark')}") from None
    # executors run this worker's Python (where berth is installed) unless the operator chose one
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName(name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def while_reporting(spark: SparkSession, group: str, ctx: JobContext, action: Callable[[], Any]) -> None:
    """Run `action` (a Spark write) in a thread of its own, reporting its tasks' progress here, and
    cancel its Spark jobs when the berth job must stop."""
    failure: list[BaseException] = []

    def run() -> None:
        spark.sparkContext.setJobGroup(group, group, interruptOnCancel=True)
        try:
            action()
        except BaseException as exc:  # handed to the job's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=group, daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(_POLL_S)
            done, total = _tasks(spark, group)
            ctx.progress(min(done / total, 0.99) if total else 0.0, f"{done} of {total} Spark tasks done")
    except BaseException:
        spark.sparkContext.cancelJobGroup(group)
        thread.join(30)
        raise
    if failure:
        raise _failed(failure[0])


def _tasks(spark: SparkSession, group: str) -> tuple[int, int]:
    tracker = spark.sparkContext.statusTracker()
    done = total = 0
    for job_id in tracker.getJobIdsForGroup(group):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job is not None else ():
            stage = tracker.getStageInfo(stage_id)
            if stage is not None:
                done += stage.numCompletedTasks
                total += stage.numTasks
    return done, total


def _failed(exc: BaseException) -> BaseException:
    """A Spark failure as berth's: the model's own error (signature, NaN…) kept by its code when an
    executor raised one, else the Spark error's first line."""
    text = str(exc)
    for code in ErrorCode:
        if f"BerthError: [{code.value}]" in text or f"[{code.value}]" in text.split("\n", 1)[0]:
            return BerthError(code, _first_line_with(text, code.value))
    if isinstance(exc, BerthError):
        return exc
    return BerthError(ErrorCode.PREDICTION_FAILED, f"Spark failed: {text.strip().splitlines()[0][:500]}")


def _first_line_with(text: str, needle: str) -> str:
    for line in text.splitlines():
        if needle in line:
            return line.strip()[:500]
    return text.strip()[:500]


def linked(artifact: Path, shipped: Path) -> Path:
    """The artifact under the name Spark ships it by (its sha256), without copying its bytes where a
    hard link can be made."""
    try:
        os.link(artifact, shipped)
    except OSError:
        shutil.copyfile(artifact, shipped)
    return shipped


def _replace(partial: Path, target: Path) -> None:
    """Put the written folder in place of `target` (a file or folder left by an earlier run)."""
    old = target.with_name(f".{target.name}.old")
    if target.exists() or target.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(partial, target)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def _refuse_links(folder: Path, named: str) -> None:
    for root, dirs, files in os.walk(folder):
        for entry in (*dirs, *files):
            if Path(root, entry).is_symlink():
                raise bad(f"{named!r} holds a symbolic link ({entry!r}): refused")
