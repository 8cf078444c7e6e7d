"""Failed inference requests journaled next to the records, so error rates can be monitored.

`RecordingFailures` wraps a transport's request counter (metrics on or off): when a request to a
known endpoint or model fails, its error code (never its inputs) goes to the journal with the time,
what it was for and how long it took; the ingester stores it in ``prediction_errors``. Requests to
names nobody serves are not journaled (a name anyone can make up never becomes a row), nor are
callers that went away.
"""

from __future__ import annotations

import time

from berth.dataplane.recording import FailedPending, PredictionRecorder
from berth.server.metrics.requests import CLIENT_CLOSED, OK, Observation, RequestCounter


class RecordingFailures:
    def __init__(self, inner: RequestCounter, recorder: PredictionRecorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def start(self) -> Observation | None:
        observation = self._inner.start()
        return observation if observation is not None else Observation()

    def finish(self, observation: Observation | None, code: str = OK) -> None:
        self._inner.finish(observation, code)
        if observation is None or code in (OK, CLIENT_CLOSED) or not observation.endpoint:
            return
        version = observation.version
        self._recorder.record_failure(
            FailedPending(
                time.time(),
                observation.endpoint,
                observation.model,
                int(version) if version.isdigit() else None,
                observation.variant,
                code,
                time.perf_counter() - observation.started,
            )
        )
