"""``berth predict NAME[@ALIAS|:VERSION] --json …``: one prediction, on a server or in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, parse_model_ref, read_json_arg, target_options
from berth.client.inference import model_path
from berth.client.transport import Transport


def is_oip(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("inputs"), list)
        and all(isinstance(t, dict) and "datatype" in t for t in body["inputs"])
    )


def _predict_remote(url: str, name: str, ref: str | None, body: Any) -> Any:
    transport = Transport(url, token=cli_token())
    try:
        if is_oip(body):
            return transport.json("POST", f"{model_path(name, ref)}/infer", json=body)
        v1_path = f"/v1/models/{name}" + (f"/versions/{ref}" if ref else "") + ":predict"
        return transport.json("POST", v1_path, json=body)
    finally:
        transport.close()


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
    home = chosen_home(home, url)
    if url:
        answer = _predict_remote(url, name, ref, body)
    else:
        from berth.cli.local_predict import predict_in_process

        answer = predict_in_process(home, name, ref, body)
    click.echo(json.dumps(answer, indent=2))
