"""The Voice's learning curve, through the platform: a real ``berth serve`` on a temporary home.

1. ``the_voice.bootstrap`` labels the 10,003 train texts by clusters (TF-IDF + KMeans, k = 77, an
   analyst naming each cluster after 5 of its texts), trains the champion and creates
   ``feedback-router``; its accuracy on the test split (3,080 texts) is read **through the endpoint**
   (REST, batches of 100 texts): "KMeans labels only".
2. The analyst (simulated with the true labels) reads predictions of train texts sent through
   ``feedback-router`` (one request per text, the request ``id`` being the prediction id) and
   gives the true category of each as feedback, until 500, 1,000 and 2,000 corrections exist.
3. After each batch the ``retrain`` job (berth.engine.retraining, the job kind's function) trains a
   challenger on base data + corrections (a 20% gold hold-out by hash of prediction id is never
   trained on), judges both on that hold-out and promotes the challenger only when it gains at least
   the margin (0.01). The endpoint's test accuracy is read again once the server serves the champion.
4. The ceiling: the same TF-IDF + linear model trained on all 10,003 true labels (in process).

Where the feedback goes: the records work (record store, ``POST /api/v1/feedback``) is not on this
branch yet, so the corrections the job reads are built here from the REST answers (the text sent,
the answer, the prediction id) with the analyst's label, and handed to the job as its record reader.
Once records land, the feedback is posted to the API and the job reads the record store instead
(`FeedbackLog` is the one place to change).

    .venv/bin/python bench/the_voice_learning_curve.py [--steps 500,1000,2000] [--base-rows N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from the_voice.bootstrap import Where, bootstrap
from the_voice.data import Split, load_split
from the_voice.trainer import frame, train

from berth.core.records import Feedback, PredictionRecord, RecordPage, RecordQuery, StoredRecord
from berth.core.settings import Settings
from berth.engine.retraining.job import run_retrain_job
from berth.engine.workspace import Workspace, open_workspace

ENDPOINT = "feedback-router"
BATCH = 100


@contextlib.contextmanager
def served(home: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    berth = str(Path(sys.executable).with_name("berth"))
    env = {**os.environ, "BERTH_POLL_INTERVAL_S": "0.2", "BERTH_LOG_LEVEL": "warning"}
    process = subprocess.Popen([berth, "serve", "--home", str(home), "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("berth serve did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def texts_body(texts: Sequence[str], request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": list(texts)}]
    }
    if request_id is not None:
        body["id"] = request_id
    return body


def outputs(answer: httpx.Response) -> dict[str, list[Any]]:
    answer.raise_for_status()
    return {o["name"]: o["data"] for o in answer.json()["outputs"]}


def served_accuracy(client: httpx.Client, test: Split) -> tuple[float, str]:
    """Accuracy of feedback-router's categories on the test split, and the version that answered."""
    predicted: list[str] = []
    versions = set()
    for start in range(0, len(test), BATCH):
        answer = client.post(
            f"/v2/models/{ENDPOINT}/infer", json=texts_body(test.texts[start : start + BATCH])
        )
        predicted += outputs(answer)["category"]
        versions.add(answer.headers["berth-model-version"])
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(test.categories)))
    return accuracy, ",".join(sorted(versions))


@dataclass
class FeedbackLog:
    """The analyst's feedback on served predictions, as the retrain job reads records."""

    records: list[StoredRecord] = field(default_factory=list)

    def add(self, prediction_id: str, text: str, answer: httpx.Response, label: str) -> None:
        now = datetime.now(UTC)
        record = PredictionRecord(
            prediction_id=prediction_id,
            recorded_at=now,
            endpoint=ENDPOINT,
            model=answer.headers["berth-model"],
            version=int(answer.headers["berth-model-version"]),
            variant=answer.headers["berth-variant"],
            inputs={"text": {"datatype": "BYTES", "shape": [1], "data": [text]}},
            outputs={},
            latency_s=0.0,
        )
        self.records.append(StoredRecord(record, Feedback(prediction_id, now, label=label, source="analyst")))

    def query(self, query: RecordQuery) -> RecordPage:
        newest_first = [r for r in reversed(self.records) if query.endpoint in (None, r.record.endpoint)]
        start = int(query.after or 0)
        more = start + query.limit < len(newest_first)
        return RecordPage(
            newest_first[start : start + query.limit], str(start + query.limit) if more else None
        )


def analyst_round(url: str, log: FeedbackLog, truth: Split, start: int, stop: int) -> int:
    """Send texts [start, stop) through the endpoint; the analyst labels each answer. Returns how many
    answers were wrong (the corrections proper; the rest confirm the model)."""

    def one(i: int) -> tuple[int, httpx.Response]:
        with httpx.Client(base_url=url, timeout=60) as client:
            return i, client.post(
                f"/v2/models/{ENDPOINT}/infer", json=texts_body([truth.texts[i]], f"analyst-{i}")
            )

    wrong = 0
    with ThreadPoolExecutor(4) as pool:
        for i, answer in pool.map(one, range(start, stop)):
            category = outputs(answer)["category"][0]
            wrong += category != truth.categories[i]
            log.add(f"analyst-{i}", truth.texts[i], answer, truth.categories[i])
    return wrong


@dataclass
class Progress:
    workspace: Workspace

    def progress(self, fraction: float, message: str = "") -> None:
        print(f"    [{fraction:4.0%}] {message}", flush=True)


def wait_for_version(client: httpx.Client, version: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.post(f"/v2/models/{ENDPOINT}/infer", json=texts_body(["hello"]))
        if answer.status_code == 200 and answer.headers["berth-model-version"] == str(version):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{ENDPOINT} did not switch to v{version}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="500,1000,2000", help="cumulative corrections after each round")
    parser.add_argument("--base-rows", type=int, default=None, help="base texts (default: all 10,003)")
    parser.add_argument("--margin", type=float, default=0.01)
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    options = {} if args.base_rows is None else {"base_rows": args.base_rows}
    test = load_split("test")
    truth = load_split("train").sample(max(steps), seed=2026)  # the texts the analyst reads, in order

    rows: list[tuple[str, int, str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="berth-voice-curve-") as tmp:
        home = Path(tmp) / "home"
        t0 = time.monotonic()
        bootstrap(Where(home=str(home)), base_rows=args.base_rows)
        print(f"bootstrap: {time.monotonic() - t0:.0f} s", flush=True)
        with served(home) as url, httpx.Client(base_url=url, timeout=60) as client:
            accuracy, version = served_accuracy(client, test)
            rows.append(("KMeans labels only", 0, f"v{version}", "", "", "", f"{accuracy:.3f}"))
            print(rows[-1], flush=True)
            log = FeedbackLog()
            workspace = open_workspace(Settings(home=home))
            try:
                done = 0
                for step in steps:
                    wrong = analyst_round(url, log, truth, done, step)
                    print(
                        f"{step} corrections ({wrong} of the {step - done} new answers were wrong)",
                        flush=True,
                    )
                    done = step
                    t0 = time.monotonic()
                    result = run_retrain_job(
                        {
                            "model": "voice-classifier",
                            "trainer": "voice",
                            "endpoint": ENDPOINT,
                            "margin": args.margin,
                            "trainer_options": options,
                        },
                        Progress(workspace),
                        log,
                        actor=f"learning-curve round {step}",
                    )
                    print(f"  retrain: {time.monotonic() - t0:.0f} s", flush=True)
                    champion = (
                        result["challenger"]["version"]
                        if result["promoted"]
                        else result["champion"]["version"]
                    )
                    wait_for_version(client, champion)
                    challenger = workspace.store.get_version(
                        "voice-classifier", result["challenger"]["version"]
                    )
                    recipe = str(challenger.metadata.params.get("recipe", ""))
                    accuracy, version = served_accuracy(client, test)
                    rows.append(
                        (
                            f"+{step} corrections",
                            result["holdout_rows"],
                            f"v{version}",
                            f"{result['challenger']['holdout_accuracy']:.3f} vs "
                            f"{result['champion']['holdout_accuracy']:.3f}",
                            "promoted" if result["promoted"] else "kept",
                            recipe,
                            f"{accuracy:.3f}",
                        )
                    )
                    print(rows[-1], flush=True)
            finally:
                workspace.close()
    base = load_split("train")
    ceiling_model = train(base.texts, base.categories)
    ceiling = float(np.mean(ceiling_model.predict(frame(test.texts)) == np.asarray(test.categories)))

    print("\nThe Voice: accuracy of feedback-router on the banking77 test split (3,080 texts)")
    print(
        "| stage | hold-out rows | served | challenger vs champion on hold-out | decision "
        "| challenger's recipe | test accuracy |"
    )
    print("|---|---|---|---|---|---|---|")
    for stage, holdout, version, scores, decision, recipe, accuracy_text in rows:
        print(
            f"| {stage} | {holdout or ''} | {version} | {scores} | {decision} | {recipe} | {accuracy_text} |"
        )
    print(f"| ceiling: all {len(base)} true labels | | | | | | {ceiling:.3f} |")


if __name__ == "__main__":
    main()
