"""Wire formats <-> tensors, and tensors <-> what a runtime receives.

- `berth.core.codecs.oip_json`: Open Inference Protocol (V2) REST JSON (the serving hot path);
- `berth.core.codecs.oip_binary`: its binary tensor data extension (a JSON header, then raw tensors:
  what tritonclient.http sends and asks for by default);
- `berth.core.codecs.v1_json`: TF-Serving and MLflow JSON bodies on ``/v1/models/{name}:predict``;
- `berth.core.codecs.model_io`: tensors -> model input (checked against the signature) and
  model output -> tensors;
- `berth.core.codecs.frames`: pandas/numpy data <-> tensors, for clients and input examples.
"""
