"""berth's one error type: a stable, transport-neutral code and a message.

Every layer raises `BerthError` with an `ErrorCode`; the servers map codes to HTTP and gRPC
statuses in one table each (``berth.server.rest.errors``), and the client rebuilds a `BerthError`
from the ``{"error": ..., "code": ...}`` body, so callers catch the same type everywhere.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from berth.core.bounded import clip


class ErrorCode(StrEnum):
    """Stable error codes. Values are part of the public API: never rename one."""

    # request syntax and shape
    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    INVALID_TENSOR = "invalid_tensor"
    UNSUPPORTED_DATATYPE = "unsupported_datatype"
    SIGNATURE_MISMATCH = "signature_mismatch"
    NAN_NOT_ALLOWED = "nan_not_allowed"
    EMPTY_BATCH = "empty_batch"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TOO_MANY_TENSORS = "too_many_tensors"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_NAME = "invalid_name"
    INVALID_ENDPOINT = "invalid_endpoint"
    INVALID_PIPELINE = "invalid_pipeline"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_CARD = "invalid_card"
    INVALID_OFFLINE_SOURCE = "invalid_offline_source"
    """A feature view's offline history (Parquet) is out of reach, unreadable, or lacks the entity
    key, the event time or a feature with a compatible dtype (docs/features.md)."""
    """A model card that is not a card: an unknown section, text outside the sections, too large."""
    # lookup
    ROUTE_NOT_FOUND = "route_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    MODEL_NOT_FOUND = "model_not_found"
    VERSION_NOT_FOUND = "version_not_found"
    ALIAS_NOT_FOUND = "alias_not_found"
    OUTPUT_NOT_FOUND = "output_not_found"
    ENDPOINT_NOT_FOUND = "endpoint_not_found"
    ENTITY_NOT_FOUND = "entity_not_found"
    ENTITY_TABLE_NOT_FOUND = "entity_table_not_found"
    JOB_NOT_FOUND = "job_not_found"
    TRIGGER_NOT_FOUND = "trigger_not_found"
    RECORD_NOT_FOUND = "record_not_found"
    MESSAGE_NOT_FOUND = "message_not_found"
    NOT_SERVED_HERE = "not_served_here"
    """A replica of one serving group was asked for a model or endpoint another group serves
    (callers use the gateway, which routes by group)."""
    EXPORT_NOT_FOUND = "export_not_found"
    ALERT_NOT_FOUND = "alert_not_found"
    PROFILE_NOT_FOUND = "profile_not_found"
    DEPRECATION_NOT_FOUND = "deprecation_not_found"
    TOKEN_NOT_FOUND = "token_not_found"
    ACCESS_REQUEST_NOT_FOUND = "access_request_not_found"
    """No such access request, or one the caller may not see (the same answer)."""
    ALREADY_EXISTS = "already_exists"
    CONFLICT = "conflict"
    ACCESS_REQUEST_PENDING = "access_request_pending"
    """The team already has a pending request for this model or endpoint (its id in the details)."""
    ACCESS_ALREADY_HELD = "access_already_held"
    """The team asked for what it has: it owns the model or endpoint, or holds a grant on it."""
    ACCESS_REQUEST_DECIDED = "access_request_decided"
    """The request was approved, denied or withdrawn already: only a pending one changes."""
    ACCESS_REQUEST_STALE = "access_request_stale"
    """What the request names was deleted (or moved to another team) since it was made."""
    # who may do what (berth.core.access)
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    EXPORT_QUOTA_EXCEEDED = "export_quota_exceeded"
    """A principal's record exports: too many running, or too many bytes kept."""
    REQUEST_TIMEOUT = "request_timeout"
    CLIENT_TOO_SLOW = "client_too_slow"
    # artifacts and models
    UNSUPPORTED_FLAVOR = "unsupported_flavor"
    ARTIFACT_INVALID = "artifact_invalid"
    ARTIFACT_INTEGRITY = "artifact_integrity"
    UNTRUSTED_ARTIFACT = "untrusted_artifact"
    MODEL_LOAD_FAILED = "model_load_failed"
    MODEL_NOT_READY = "model_not_ready"
    PREDICTION_FAILED = "prediction_failed"
    PIPELINE_STEP_FAILED = "pipeline_step_failed"
    MODEL_FOLDER_INVALID = "model_folder_invalid"
    """A model folder (`berth serve --model-dir`) without a valid manifest, or with files that
    escape it (docs/image.md)."""
    # background jobs
    UNKNOWN_JOB_KIND = "unknown_job_kind"
    INVALID_JOB_PARAMS = "invalid_job_params"
    JOB_INPUT_NOT_FOUND = "job_input_not_found"
    """A job names an input file (a path in the home folder) that is not there when it is enqueued."""
    # the server itself
    UNAVAILABLE = "unavailable"
    NO_SERVING_REPLICA = "no_serving_replica"
    FEATURES_UNAVAILABLE = "features_unavailable"
    """A feature view's store failed or missed its latency budget, and the view says ``fail``."""
    """The gateway knows the model or endpoint, but no live replica has it ready."""
    RECORDING_UNAVAILABLE = "recording_unavailable"
    """The prediction was made but its record could not be written (the journal's disk is full or
    failing): the answer is withheld, since every answered prediction is recorded."""
    IMAGE_BUILD_FAILED = "image_build_failed"
    """`berth image build`: no buildah or podman, or the build tool failed."""
    ADDRESS_IN_USE = "address_in_use"
    """`berth serve`: its REST or gRPC port is taken (checked before any model is loaded)."""
    REGISTRY_NOT_FOUND = "registry_not_found"
    """The CLI was given no registry (no --home, BERTH_HOME or --url) and ./.berth is not there: it
    creates none silently (`berth init` does)."""
    MISSING_EXTRA = "missing_extra"
    """A setting names an optional part (``s3://``, ``nats://``, ``postgresql://``) whose extra is
    not installed; the message gives the pip command (`berth.core.extras`)."""
    INTERNAL = "internal"


class BerthError(Exception):
    """An error with a stable `code`, a human `message` and optional structured `details`."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        message = clip(message)  # never megabytes of a caller's names or values (berth.core.bounded)
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = {k: clip(v, 200) if isinstance(v, str) else v for k, v in details.items()}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "code": self.code.value}
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> BerthError:
        """Rebuild an error from a server's JSON body; unknown codes become INTERNAL."""
        try:
            code = ErrorCode(str(body.get("code")))
        except ValueError:
            code = ErrorCode.INTERNAL
        details = body.get("details")
        return cls(
            code, str(body.get("error", "unknown error")), **(details if isinstance(details, dict) else {})
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its code and details (errors cross process boundaries: decoding pools)."""
        return (_rebuild, (self.code, self.message, self.details))

    def __repr__(self) -> str:
        return f"BerthError({self.code.value!r}, {self.message!r})"


def _rebuild(code: ErrorCode, message: str, details: dict[str, Any]) -> BerthError:
    return BerthError(code, message, **details)
