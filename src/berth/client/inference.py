"""Calling models on a running server: ``Client(url).predict("churn", df)`` returns a DataFrame.

The tensor codecs load with the first call that sends tensors: `infer` needs numpy, `predict`
numpy and pandas (it answers a DataFrame). Making a client, `metadata` and `ready` need neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from berth.client.transport import Transport
from berth.core.errors import BerthError

if TYPE_CHECKING:
    import pandas as pd

    from berth.core.tensors import InferenceRequest, InferenceResponse


def model_path(model: str, version: str | int | None) -> str:
    """``/v2/models/{model}[/versions/{version}]``, each part URL-quoted."""
    path = f"/v2/models/{quote(model, safe='')}"
    if version is not None:
        path += f"/versions/{quote(str(version), safe='')}"
    return path


class Client:
    """A small Open Inference Protocol client for berth (Triton's and KServe's clients work too)."""

    def __init__(
        self, url: str, *, timeout: float = 60.0, transport: Transport | None = None, token: str | None = None
    ) -> None:
        """`token`: an API token or JWT sent as ``Authorization: Bearer`` (default: ``BERTH_TOKEN``)."""
        self._transport = transport or Transport(url, timeout=timeout, token=token)
        self._input_names: dict[tuple[str, str | None], str] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def infer(
        self, model: str, request: InferenceRequest, *, version: str | int | None = None
    ) -> InferenceResponse:
        from berth.core.codecs.oip_json import decode_infer_response, encode_infer_request

        response = self._transport.request(
            "POST",
            f"{model_path(model, version)}/infer",
            content=encode_infer_request(request),
            headers={"content-type": "application/json"},
        )
        return decode_infer_response(response.content)

    def predict(
        self,
        model: str,
        data: Any,
        *,
        version: str | int | None = None,
        outputs: Sequence[str] | None = None,
        request_id: str | None = None,
    ) -> pd.DataFrame:
        """Predict on a DataFrame, an array, a list of strings or a dict of arrays.

        `version` is a number or an alias (default: the model's 'production' alias, else latest);
        `outputs` names the outputs wanted (default: the model's default outputs). The answer is a
        DataFrame with a column per output (2-D outputs are spread over ``name_0 … name_k``).
        """
        import pandas as pd

        from berth.core.codecs.frames import outputs_to_frame, to_tensors
        from berth.core.tensors import InferenceRequest, RequestedOutput

        inputs = to_tensors(data)
        if len(inputs) == 1 and not isinstance(data, pd.DataFrame | dict):
            inputs = [replace(inputs[0], name=self._single_input_name(model, version))]
        request = InferenceRequest(
            inputs=inputs,
            id=request_id,
            outputs=[RequestedOutput(name) for name in outputs] if outputs else None,
        )
        return outputs_to_frame(self.infer(model, request, version=version).outputs)

    def _single_input_name(self, model: str, version: str | int | None) -> str:
        """An unnamed array goes to the model's one input, under that input's name (looked up once)."""
        key = (model, None if version is None else str(version))
        if key not in self._input_names:
            inputs = self.metadata(model, version=version).get("inputs", [])
            self._input_names[key] = inputs[0]["name"] if len(inputs) == 1 else "input-0"
        return self._input_names[key]

    def metadata(self, model: str, *, version: str | int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._transport.json("GET", model_path(model, version))
        return result

    def ready(self) -> bool:
        """True when the server is ready (it answers 400 while it is not)."""
        try:
            return bool(self._transport.json("GET", "/v2/health/ready").get("ready"))
        except BerthError:
            return False
