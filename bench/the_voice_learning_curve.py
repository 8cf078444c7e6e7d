"""The Voice's learning curve, through the platform itself: ``berth serve`` and ``berth worker``.

1. ``the_voice.bootstrap`` labels the 10,003 train texts by clusters (sentence embeddings + KMeans, k = 77, an
   analyst naming each cluster after 5 of its texts), trains the champion, pushes it with a
   reference profile of its texts, and creates ``feedback-router`` on a temporary home. A real
   ``berth serve`` and a real ``berth worker`` (subprocesses, same home and database) start on it.
   The champion's accuracy on the test split (3,080 texts) is read **through the endpoint** (REST,
   batches of 100 texts): "KMeans labels only".
2. The analyst (simulated with the true labels) works through a pool of train texts (`POOL`, seeded)
   as they arrive through ``feedback-router`` (one request per text, request ``id``
   ``analyst-R-N``: each answer is recorded under that ``berth-prediction-id``), and corrects them
   **in the order the analyst page offers**: ``GET /api/v1/records?order=needs_review`` for the
   serving version (one text of every group of meaning first: the server embeds the texts; the
   most uncertain first within a tier), giving each one's true
   category through ``POST /api/v1/feedback``, until 500, 1,000 and 2,000 corrections exist
   (cumulative). After each promotion the texts not corrected yet arrive again (answered by the
   new champion). ``--order newest`` corrects them in arrival order instead (the comparison).
3. After each batch a ``retrain`` job is enqueued through ``POST /api/v1/jobs`` and run by the
   worker (its progress is printed): it reads the corrections from the record store, trains a
   challenger on base data + corrections (a 20% gold hold-out, by hash of prediction id, is never
   trained on), judges both on that hold-out and promotes the challenger only when it gains at
   least the margin (0.01). Once the server serves the champion the job left, the endpoint's test
   accuracy is read again.
4. The ceiling: the same model (sentence embeddings + TF-IDF -> linear) trained on all 10,003 true
   labels (in process).

    .venv/bin/python bench/the_voice_learning_curve.py [--steps 500,1000,2000] [--base-rows N]
        [--order newest] [--pool N]
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from the_voice.bootstrap import Where, bootstrap
from the_voice.data import Split, load_split
from the_voice.trainer import frame, train

ENDPOINT = "feedback-router"
MODEL = "voice-classifier"
BATCH = 100
FEEDBACK_CHUNK = 500
POOL = 4_000
"""Train texts the simulated analyst's queue holds (a seeded sample)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def processes(home: Path) -> Iterator[str]:
    """``berth serve`` and ``berth worker`` on `home`; yields the server's URL."""
    port = free_port()
    berth = str(Path(sys.executable).with_name("berth"))
    env = {**os.environ, "BERTH_POLL_INTERVAL_S": "0.2", "BERTH_LOG_LEVEL": "warning", "BERTH_URL": ""}
    server = subprocess.Popen([berth, "serve", "--home", str(home), "--port", str(port)], env=env)
    worker = subprocess.Popen(
        [
            berth,
            "worker",
            "--home",
            str(home),
            "--kinds",
            "retrain",
            "--poll",
            "0.2",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # loading the sentence encoder, on a busy machine
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            if server.poll() is not None or worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("berth serve or berth worker did not start")
            time.sleep(0.2)
        yield url
    finally:
        for process in (worker, server):
            process.terminate()
        for process in (worker, server):
            process.wait(timeout=60)


def texts_body(texts: Sequence[str]) -> dict[str, Any]:
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": list(texts)}]}


def ok(answer: httpx.Response) -> Any:
    if answer.status_code >= 400:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text}"
        )
    return answer.json()


def categories_of(answer: httpx.Response) -> list[str]:
    outputs = {o["name"]: o["data"] for o in ok(answer)["outputs"]}
    return [str(c) for c in outputs["category"]]


def served_accuracy(client: httpx.Client, test: Split) -> tuple[float, str]:
    """Accuracy of feedback-router's categories on the test split, and the versions that answered."""
    predicted: list[str] = []
    versions = set()
    for start in range(0, len(test), BATCH):
        answer = client.post(
            f"/v2/models/{ENDPOINT}/infer", json=texts_body(test.texts[start : start + BATCH])
        )
        predicted += categories_of(answer)
        versions.add(answer.headers["berth-model-version"])
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(test.categories)))
    return accuracy, ",".join(f"v{v}" for v in sorted(versions))


def route(url: str, texts: Sequence[str], ids: Sequence[str]) -> list[tuple[str, str]]:
    """Each text through the endpoint, one request each (4 at a time), under the request ``id`` given
    (so the job's hash-chosen hold-out, and the whole run, are reproducible): (prediction id, category)."""

    def one(i: int) -> tuple[str, str]:
        with httpx.Client(base_url=url, timeout=60) as client:
            body = {**texts_body([texts[i]]), "id": ids[i]}
            answer = client.post(f"/v2/models/{ENDPOINT}/infer", json=body)
            return answer.headers["berth-prediction-id"], categories_of(answer)[0]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(len(texts))))


def send_feedback(client: httpx.Client, items: list[dict[str, str]], timeout_s: float = 60) -> None:
    """Post the feedback; ids the server does not know yet (a record is ingested ~0.2 s after its
    answer) are sent again until stored."""
    deadline = time.monotonic() + timeout_s
    pending = items
    while pending:
        unknown: set[str] = set()
        for start in range(0, len(pending), FEEDBACK_CHUNK):
            report = ok(
                client.post("/api/v1/feedback", json={"feedback": pending[start : start + FEEDBACK_CHUNK]})
            )
            unknown |= set(report["unknown"])
        pending = [i for i in pending if i["prediction_id"] in unknown]
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} predictions were never recorded")
        if pending:
            time.sleep(0.2)


def wait_recorded(client: httpx.Client, ids: Sequence[str], timeout_s: float = 120) -> None:
    """Until the last of `ids` is in the record store (records are ingested in order)."""
    deadline = time.monotonic() + timeout_s
    while client.get(f"/api/v1/records/{ids[-1]}").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{ids[-1]} was never recorded")
        time.sleep(0.2)


def review_queue(client: httpx.Client, version: int, wanted: int, mine: set[str]) -> list[dict[str, Any]]:
    """The first `wanted` records of the analyst page's "needs review" order for this version that
    are among `mine` (this round's arrivals): the queue also holds the answers the bench reads the
    test accuracy with, which the analyst must not correct (that would train on the test split)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(found) < wanted:
        params: dict[str, Any] = {
            "endpoint": ENDPOINT,
            "version": version,
            "order": "needs_review",
            "limit": 1000,
        }
        if cursor:
            params["cursor"] = cursor
        page = ok(client.get("/api/v1/records", params=params))
        found += [r for r in page["records"] if r["prediction_id"] in mine]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return found[:wanted]


def analyst_round(
    url: str,
    client: httpx.Client,
    pool: Split,
    corrected: set[int],
    wanted: int,
    round_: int,
    version: int,
    order: str,
) -> int:
    """The pool's texts not corrected yet arrive through the endpoint (answered by `version`); the
    analyst corrects `wanted` of them in the page's order (`order`: needs_review or newest arrival
    first) with their true category. Returns how many of those answers were wrong."""
    waiting = [i for i in range(len(pool)) if i not in corrected]
    ids = [f"analyst-{round_}-{i}" for i in waiting]
    answers = route(url, [pool.texts[i] for i in waiting], ids)
    wait_recorded(client, ids)
    index = {pid: i for pid, i in zip(ids, waiting, strict=True)}
    if order == "needs_review":
        chosen = [
            (r["prediction_id"], index[r["prediction_id"]])
            for r in review_queue(client, version, wanted, set(index))
        ]
    else:
        chosen = [(pid, index[pid]) for pid, _ in answers[:wanted]]
    if len(chosen) < wanted:
        raise RuntimeError(f"the review queue offered {len(chosen)} records, not {wanted}")
    send_feedback(
        client,
        [{"prediction_id": pid, "label": pool.categories[i], "source": "analyst"} for pid, i in chosen],
    )
    corrected.update(i for _, i in chosen)
    predicted = {pid: category for pid, category in answers}
    return sum(predicted[pid] != pool.categories[i] for pid, i in chosen)


def run_job(client: httpx.Client, params: dict[str, Any], timeout_s: float = 1800) -> dict[str, Any]:
    """Enqueue a retrain job through the job API and follow its progress until it ends."""
    job = ok(client.post("/api/v1/jobs", json={"kind": "retrain", "params": params}))
    print(f"  job {job['id']} queued", flush=True)
    deadline = time.monotonic() + timeout_s
    shown: tuple[Any, ...] = ()
    while time.monotonic() < deadline:
        job = ok(client.get(f"/api/v1/jobs/{job['id']}"))
        now = (job["status"], job.get("progress"), job.get("progress_message"))
        if now != shown:
            progress = f"{job['progress']:4.0%}" if job.get("progress") is not None else "  - "
            print(f"    [{progress}] {job['status']}: {job.get('progress_message') or ''}", flush=True)
            shown = now
        if job["status"] in ("succeeded", "failed", "cancelled"):
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job['id']} {job['status']}: {job.get('error')}")
            return dict(job["result"])
        time.sleep(0.5)
    raise RuntimeError(f"job {job['id']} did not end within {timeout_s} s")


def wait_for_version(client: httpx.Client, version: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = client.post(f"/v2/models/{ENDPOINT}/infer", json=texts_body(["hello"]))
        if answer.status_code == 200 and answer.headers["berth-model-version"] == str(version):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{ENDPOINT} did not switch to v{version}")


@dataclass(frozen=True, slots=True)
class Row:
    stage: str
    served: str
    accuracy: float
    holdout_rows: int | None = None
    scores: str = ""
    decision: str = ""
    recipe: str = ""
    job_s: float | None = None

    def markdown(self) -> str:
        cells = [
            self.stage,
            "" if self.holdout_rows is None else str(self.holdout_rows),
            self.served,
            self.scores,
            self.decision,
            self.recipe,
            "" if self.job_s is None else f"{self.job_s:.0f}",
            f"{self.accuracy:.3f}",
        ]
        return "| " + " | ".join(cells) + " |"


def profile_rows(client: httpx.Client, version: int) -> str:
    answer = client.get(f"/api/v1/models/{MODEL}/versions/{version}/profile")
    return f"{answer.json()['rows']} rows" if answer.status_code == 200 else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", default="500,1000,2000", help="cumulative corrections after each round")
    parser.add_argument("--base-rows", type=int, default=None, help="base texts (default: all 10,003)")
    parser.add_argument("--margin", type=float, default=0.01)
    parser.add_argument("--order", choices=("needs_review", "newest"), default="needs_review")
    parser.add_argument("--pool", type=int, default=POOL, help="texts in the analyst's queue")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    options = {} if args.base_rows is None else {"base_rows": args.base_rows}
    test = load_split("test")
    pool = load_split("train").sample(max(args.pool, max(steps)), seed=2026)  # the analyst's queue
    started = time.monotonic()

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="berth-voice-curve-") as tmp:
        home = Path(tmp) / "home"
        t0 = time.monotonic()
        bootstrap(Where(home=str(home)), base_rows=args.base_rows)
        print(f"bootstrap: {time.monotonic() - t0:.0f} s", flush=True)
        with processes(home) as url, httpx.Client(base_url=url, timeout=120) as client:
            accuracy, served = served_accuracy(client, test)
            rows.append(Row("cluster labels only", served, accuracy))
            print(f"{rows[-1].markdown()}  (reference profile: {profile_rows(client, 1)})", flush=True)
            done = 0
            corrected: set[int] = set()
            serving = 1
            for round_, step in enumerate(steps):
                t0 = time.monotonic()
                wrong = analyst_round(url, client, pool, corrected, step - done, round_, serving, args.order)
                print(
                    f"{step} corrections sent through the feedback API ({wrong} of the {step - done} new "
                    f"answers were wrong; {time.monotonic() - t0:.0f} s)",
                    flush=True,
                )
                done = step
                t0 = time.monotonic()
                result = run_job(
                    client,
                    {
                        "model": MODEL,
                        "trainer": "voice",
                        "endpoint": ENDPOINT,
                        "margin": args.margin,
                        "trainer_options": options,
                    },
                )
                job_s = time.monotonic() - t0
                if result["corrections"] != step:
                    raise RuntimeError(f"the job read {result['corrections']} corrections, not {step}")
                champion = (
                    result["challenger"]["version"] if result["promoted"] else result["champion"]["version"]
                )
                wait_for_version(client, champion)
                serving = champion
                challenger = ok(
                    client.get(f"/api/v1/models/{MODEL}/versions/{result['challenger']['version']}")
                )
                accuracy, served = served_accuracy(client, test)
                rows.append(
                    Row(
                        f"+{step} corrections",
                        served,
                        accuracy,
                        holdout_rows=result["holdout_rows"],
                        scores=f"{result['challenger']['holdout_accuracy']:.3f} vs "
                        f"{result['champion']['holdout_accuracy']:.3f}",
                        decision="promoted" if result["promoted"] else "kept",
                        recipe=str(challenger["params"].get("recipe", "")),
                        job_s=job_s,
                    )
                )
                print(
                    f"{rows[-1].markdown()}  (champion v{champion}'s reference profile: "
                    f"{profile_rows(client, champion)})",
                    flush=True,
                )
    base = load_split("train")
    ceiling_model = train(base.texts, base.categories)
    ceiling = float(np.mean(ceiling_model.predict(frame(test.texts)) == np.asarray(test.categories)))

    print(f"\nThe Voice: accuracy of feedback-router on the banking77 test split ({len(test):,} texts)")
    print(f"(whole run {time.monotonic() - started:.0f} s)")
    print(
        "| stage | hold-out rows | served | challenger vs champion on hold-out | decision "
        "| challenger's recipe | job (s) | test accuracy |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())
    print(f"| ceiling: all {len(base):,} true labels (in process) | | | | | | | {ceiling:.3f} |")


if __name__ == "__main__":
    main()
