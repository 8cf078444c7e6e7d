"""``berth predict`` without ``--url``: the version loaded in this process, answered by the data plane.

Apart from the command (`berth.cli.predict_command`) because it builds a server in-process (the
runtime, the flavors, the database), which the command tree must not import.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from berth.cli.predict_command import is_oip
from berth.core.codecs.oip_json import decode_infer_request, encode_infer_response
from berth.core.codecs.v1_json import decode_v1_request, encode_v1_response
from berth.core.settings import Settings
from berth.core.tensors import InferenceRequest
from berth.wiring.server import build_server


def predict_in_process(home: Path | None, name: str, ref: str | None, body: Any) -> Any:
    """The answer to `body` from version `ref` of `name` in `home` (default: the settings' home)."""
    settings = Settings() if home is None else Settings(home=home)
    return asyncio.run(_predict(settings, name, ref, body))


async def _predict(settings: Settings, name: str, ref: str | None, body: Any) -> Any:
    """Load the version in this process (no server) and answer through the same data plane."""
    # a local prediction is not serving: it is not recorded
    server = build_server(settings.model_copy(update={"preload": False, "record_predictions": False}))
    try:
        await server.reconciler.sync()
        raw = orjson.dumps(body)
        if is_oip(body):
            response = await server.dataplane.infer(name, ref, decode_infer_request(raw))
            return orjson.loads(encode_infer_response(response))
        # TF-Serving / MLflow JSON is answered in its own shape, as the server's /v1 route does
        signature = server.dataplane.endpoint_signature(name) if ref is None else None
        if signature is not None:  # an endpoint: as the /v1 route reads it (values typed by JSON)
            decoded = decode_v1_request(raw, signature, typed=False)
            answer = await server.dataplane.infer(name, None, InferenceRequest(decoded.inputs))
        else:
            server.dataplane.check_callable(name, ref)  # an endpoint's "version" is a clear error
            version = server.dataplane.resolve(name, ref)
            decoded = decode_v1_request(raw, version.signature)
            answer = await server.dataplane.infer_version(name, version, InferenceRequest(decoded.inputs))
        return orjson.loads(encode_v1_response(answer.outputs, decoded.style))
    finally:
        await server.stop()
