"""Input examples: stored with a version as an OIP request body, turned back into model inputs.

An example is what an owner passes at push time (a DataFrame, an array, a list of strings or a
dict of arrays). berth stores its first rows as an Open Inference Protocol request, so the same
JSON documents the model, warms it up before it takes traffic, and gives a copy-paste request.
A DataFrame is marked with the request parameter ``content_type: "pd"`` (MLServer's convention).
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd

from berth.core.codecs.frames import example_to_request
from berth.core.codecs.oip_json import decode_infer_request
from berth.core.signature import InputLayout, Signature

PANDAS_CONTENT_TYPE = "pd"


def example_as_request(example: Any, signature: Signature | None = None) -> dict[str, Any]:
    """The OIP request body that stands for `example` (its first rows); a single unnamed array
    takes the name of the signature's one input."""
    body = dict(example_to_request(example))
    if signature is not None and signature.layout is InputLayout.TENSOR and len(body["inputs"]) == 1:
        body["inputs"] = [{**body["inputs"][0], "name": signature.inputs[0].name}]
    if isinstance(example, pd.DataFrame):
        body["parameters"] = {**body.get("parameters", {}), "content_type": PANDAS_CONTENT_TYPE}
    return body


def request_as_example(body: dict[str, Any]) -> Any:
    """The model input an OIP request body stands for: a DataFrame when marked ``pd``, the array of a
    single input, else a dict of arrays."""
    request = decode_infer_request(orjson.dumps(body))
    if request.parameters.get("content_type") == PANDAS_CONTENT_TYPE:
        return pd.DataFrame({t.name: t.data.reshape(t.shape[0], -1)[:, 0] for t in request.inputs})
    if len(request.inputs) == 1:
        return request.inputs[0].data
    return {t.name: t.data for t in request.inputs}
