"""Open Inference Protocol V2 over gRPC: the service Triton's and KServe's gRPC clients call.

``proto/berth_inference.proto`` declares package ``inference``, service ``GRPCInferenceService``
with the published field numbers; ``codec`` turns its messages into berth's tensors and back,
``service`` answers the calls through the `DataPlane` (the same one REST uses), ``status`` maps
error codes to gRPC status codes in one table, and ``server`` runs it all on grpc.aio.

The generated code in ``proto/`` is committed. Regenerate it after editing the .proto with
``make grpc``, which runs::

    .venv/bin/python -m grpc_tools.protoc -I src --python_out=src --pyi_out=src --grpc_python_out=src \\
        src/berth/server/grpc/proto/berth_inference.proto

then loads the messages into a private descriptor pool instead of protobuf's default one (so
berth can share a process with tritonclient, KServe or MLServer, which declare the same
``inference.*`` names), prepends ``# ruff: noqa`` and ``# mypy: ignore-errors`` and runs
``ruff format`` on the three files.
"""
