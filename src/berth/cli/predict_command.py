"""``berth predict NAME[@ALIAS|:VERSION] --json …``: one prediction, on a server or in-process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
import orjson

from berth.cli.options import cli_token, parse_model_ref, read_json_arg, target_options
from berth.client.inference import model_path
from berth.client.transport import Transport
from berth.core.codecs.oip_json import decode_infer_request, encode_infer_response
from berth.core.codecs.v1_json import decode_v1_request, encode_v1_response
from berth.core.settings import Settings
from berth.core.tensors import InferenceRequest
from berth.server.app import build_server


def _is_oip(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("inputs"), list)
        and all(isinstance(t, dict) and "datatype" in t for t in body["inputs"])
    )


def _predict_remote(url: str, name: str, ref: str | None, body: Any) -> Any:
    transport = Transport(url, token=cli_token())
    try:
        if _is_oip(body):
            return transport.json("POST", f"{model_path(name, ref)}/infer", json=body)
        v1_path = f"/v1/models/{name}" + (f"/versions/{ref}" if ref else "") + ":predict"
        return transport.json("POST", v1_path, json=body)
    finally:
        transport.close()


async def _predict_local(settings: Settings, name: str, ref: str | None, body: Any) -> Any:
    """Load the version in this process (no server) and answer through the same data plane."""
    # a local prediction is not serving: it is not recorded
    server = build_server(settings.model_copy(update={"preload": False, "record_predictions": False}))
    try:
        await server.reconciler.sync()
        raw = orjson.dumps(body)
        if _is_oip(body):
            response = await server.dataplane.infer(name, ref, decode_infer_request(raw))
            return orjson.loads(encode_infer_response(response))
        # TF-Serving / MLflow JSON is answered in its own shape, as the server's /v1 route does
        version = server.dataplane.resolve(name, ref)
        decoded = decode_v1_request(raw, version.signature)
        answer = await server.dataplane.infer_version(name, version, InferenceRequest(decoded.inputs))
        return orjson.loads(encode_v1_response(answer.outputs, decoded.style))
    finally:
        await server.stop()


@click.command()
@click.argument("model")
@click.option(
    "--json",
    "json_body",
    required=True,
    help="The request: an OIP body, or TF-Serving/MLflow JSON (instances, inputs, dataframe_split, "
    "dataframe_records); inline, @file, or - for standard input.",
)
@target_options
def predict(model: str, json_body: str, home: Path | None, url: str | None) -> None:
    """Predict with MODEL (NAME, NAME@ALIAS or NAME:VERSION) and print the answer as JSON."""
    name, ref = parse_model_ref(model)
    body = read_json_arg(json_body)
    if url and home is None:
        answer = _predict_remote(url, name, ref, body)
    else:
        settings = Settings() if home is None else Settings(home=home)
        answer = asyncio.run(_predict_local(settings, name, ref, body))
    click.echo(json.dumps(answer, indent=2))
