"""Copy a model version from an MLflow Model Registry into berth (``berth import mlflow``).

MLflow's REST API, over httpx (the mlflow package is not needed): the version
(``model-versions/get``, or ``registered-models/alias`` for ``models:/NAME@ALIAS``), its model's
description (``registered-models/get``), the run's metrics and params (``runs/get``), and the
model's files, found with ``model-versions/get-download-uri`` and downloaded through the tracking
server's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``: the server runs with
``--serve-artifacts``, MLflow's default). The folder is then pushed like ``berth push DIR``
(`berth.control.packaging.package_mlflow` checks it on the side that stores it).

The registry is another party: the tracking URI must be ``http(s)://host[:port][/prefix]``
(credentials come from ``MLFLOW_TRACKING_TOKEN`` or ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``,
never the URI), redirects are not followed, every answer is bounded (`MAX_ANSWER_BYTES`; files
`Limits`), and every path it gives is checked before it is used: an artifact URI must be an
``mlflow-artifacts:`` one, and every name a listing gives one plain path component, so nothing
lands outside the download folder.
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx
import orjson

from berth.client.registry import Registry
from berth.core.entities import PushRequest, Version, VersionMetadata, check_model_name
from berth.core.errors import BerthError, ErrorCode

MAX_ANSWER_BYTES: Final = 8 * 1024 * 1024
API: Final = "/api/2.0/mlflow"
ARTIFACTS: Final = "/api/2.0/mlflow-artifacts/artifacts"
_MODEL_URI = re.compile(
    r"models:/(?P<name>[^/@]{1,256})(?:/(?P<version>[0-9]{1,9})|@(?P<alias>[\w-]{1,255}))"
)
_ARTIFACT_URI = re.compile(r"mlflow-artifacts:(?://[^/]*)?/(?P<path>.+)")


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one model's files may be."""

    max_files: int = 10_000
    max_bytes: int = 4 * 1024**3
    max_depth: int = 16


@dataclass(frozen=True, slots=True)
class ModelRef:
    """``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``."""

    name: str
    version: str | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelRef:
        match = _MODEL_URI.fullmatch(uri)
        if match is None:
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"expected models:/NAME/VERSION or models:/NAME@ALIAS, got {uri!r}"
            )
        return cls(match["name"], match["version"], match["alias"])


@dataclass(frozen=True, slots=True)
class MlflowVersion:
    """A registered model version, as the registry describes it."""

    name: str
    version: str
    description: str
    tags: dict[str, str]
    run_id: str
    model_description: str


def check_tracking_uri(uri: str) -> str:
    """`uri` without a trailing slash, when it is ``http(s)://host[:port][/prefix]`` (INVALID_REQUEST)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"invalid tracking URI {uri!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"the tracking URI must be http(s)://host, got {uri!r}")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            "the tracking URI takes no credentials, query or fragment "
            "(credentials: MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD)",
        )
    del port
    return uri.rstrip("/")


def credentials_from_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Authorization header MLflow's own environment variables give, if any."""
    env = os.environ if env is None else env
    if token := env.get("MLFLOW_TRACKING_TOKEN"):
        return {"Authorization": f"Bearer {token}"}
    user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _component(name: object) -> str:
    """A listing's name: one plain path component."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or any(c in name for c in "/\\\x00")
        or (len(name) > 1 and name[1] == ":")
    ):
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID, f"the MLflow registry listed a refused file name {name!r}"
        )
    return name


def artifact_path(uri: object) -> PurePosixPath:
    """The relative path behind an ``mlflow-artifacts:`` URI (ARTIFACT_INVALID for anything else)."""
    match = _ARTIFACT_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"the model's files are at {uri!r}; berth downloads them only through the tracking "
            "server's artifact proxy (mlflow-artifacts:, a server run with --serve-artifacts)",
        )
    return PurePosixPath(*(_component(p) for p in match["path"].strip("/").split("/")))


class MlflowRegistry:
    """An MLflow tracking server's Model Registry, read over its REST API."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        limits: Limits | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base = check_tracking_uri(tracking_uri)
        self._limits = limits or Limits()
        self._http = httpx.Client(
            base_url=self._base,
            headers=dict(headers or {}),
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MlflowRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the registry ---------------------------------------------------------------------------
    def version(self, ref: ModelRef) -> MlflowVersion:
        """The version `ref` names, with its registered model's description."""
        if ref.alias is not None:
            body = self._get(f"{API}/registered-models/alias", {"name": ref.name, "alias": ref.alias})
        else:
            body = self._get(f"{API}/model-versions/get", {"name": ref.name, "version": ref.version or ""})
        found = _dict(body.get("model_version"), "model_version")
        model = _dict(
            self._get(f"{API}/registered-models/get", {"name": ref.name}).get("registered_model"), ""
        )
        return MlflowVersion(
            name=ref.name,
            version=str(found.get("version", "")),
            description=_text(found.get("description")),
            tags=_pairs(found.get("tags")),
            run_id=_text(found.get("run_id")),
            model_description=_text(model.get("description")),
        )

    def run_data(self, run_id: str) -> tuple[dict[str, float], dict[str, str]]:
        """The run's metrics (finite values) and params."""
        if not run_id:
            return {}, {}
        run = _dict(self._get(f"{API}/runs/get", {"run_id": run_id}).get("run"), "run")
        data = _dict(run.get("data", {}), "run.data")
        metrics: dict[str, float] = {}
        for entry in data.get("metrics") or []:
            if isinstance(entry, dict) and isinstance(entry.get("value"), int | float):
                value = float(entry["value"])
                if math.isfinite(value):
                    metrics[_text(entry.get("key"))] = value
        return metrics, _pairs(data.get("params"))

    def download(self, version: MlflowVersion, folder: Path) -> Path:
        """Download the version's model files into the empty `folder`; `folder`."""
        body = self._get(
            f"{API}/model-versions/get-download-uri", {"name": version.name, "version": version.version}
        )
        root = artifact_path(body.get("artifact_uri"))
        budget = _Budget(self._limits)
        self._download_tree(root, folder, budget, depth=0)
        return folder

    # -- HTTP -------------------------------------------------------------------------------------
    def _download_tree(self, remote: PurePosixPath, local: Path, budget: _Budget, depth: int) -> None:
        if depth > self._limits.max_depth:
            raise BerthError(ErrorCode.ARTIFACT_INVALID, "the model's files nest too deep")
        listing = self._get(ARTIFACTS, {"path": remote.as_posix()})
        for entry in listing.get("files") or []:
            entry = _dict(entry, "files[]")
            name = _component(entry.get("path"))  # MLflow's proxy lists base names
            budget.count()
            target = local / name
            if target.exists():
                raise BerthError(ErrorCode.ARTIFACT_INVALID, f"the MLflow registry listed {name!r} twice")
            if entry.get("is_dir"):
                target.mkdir()
                self._download_tree(remote / name, target, budget, depth + 1)
            else:
                self._download_file(remote / name, target, budget)

    def _download_file(self, remote: PurePosixPath, target: Path, budget: _Budget) -> None:
        url = f"{ARTIFACTS}/{quote(remote.as_posix())}"
        with self._send("GET", url) as response, target.open("xb") as out:
            for chunk in response.iter_bytes(1 << 20):
                budget.spend(len(chunk))
                out.write(chunk)

    def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        with self._send("GET", path, params=params) as response:
            body = bytearray()
            for chunk in response.iter_bytes(1 << 16):
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise BerthError(
                        ErrorCode.PAYLOAD_TOO_LARGE, f"{path} answered more than {MAX_ANSWER_BYTES} bytes"
                    )
        try:
            return _dict(orjson.loads(body), path)
        except orjson.JSONDecodeError:
            raise BerthError(
                ErrorCode.UNAVAILABLE, f"the MLflow registry's {path} did not answer JSON"
            ) from None

    def _send(self, method: str, path: str, params: Mapping[str, str] | None = None) -> _Answer:
        try:
            request = self._http.build_request(method, path, params=params)
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise BerthError(ErrorCode.UNAVAILABLE, f"the MLflow registry at {self._base}: {exc}") from None
        if response.status_code >= 300:
            try:
                detail = response.read()[:2000]
            finally:
                response.close()
            raise _error(response.status_code, path, detail)
        return _Answer(response)


class _Answer:
    """A streamed response, closed when the block ends."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __enter__(self) -> httpx.Response:
        return self._response

    def __exit__(self, *exc: object) -> None:
        self._response.close()


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._files = 0
        self._bytes = 0

    def count(self) -> None:
        self._files += 1
        if self._files > self._limits.max_files:
            raise BerthError(
                ErrorCode.ARTIFACT_INVALID, f"the model has more than {self._limits.max_files} files"
            )

    def spend(self, size: int) -> None:
        self._bytes += size
        if self._bytes > self._limits.max_bytes:
            raise BerthError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"the model's files exceed {self._limits.max_bytes} bytes"
            )


def _error(status: int, path: str, detail: bytes) -> BerthError:
    try:
        body = orjson.loads(detail)
    except orjson.JSONDecodeError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    text = (
        f"the MLflow registry answered {status} to {path}: {message or detail[:200].decode(errors='replace')}"
    )
    mlflow_code = body.get("error_code") if isinstance(body, dict) else None
    if status == 404 or mlflow_code == "RESOURCE_DOES_NOT_EXIST":
        return BerthError(ErrorCode.VERSION_NOT_FOUND, text)
    if status == 401:
        return BerthError(ErrorCode.UNAUTHENTICATED, text)
    if status == 403:
        return BerthError(ErrorCode.FORBIDDEN, text)
    if 400 <= status < 500:
        return BerthError(ErrorCode.INVALID_REQUEST, text)
    return BerthError(ErrorCode.UNAVAILABLE, text)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BerthError(ErrorCode.UNAVAILABLE, f"the MLflow registry's answer lacks {what or 'an object'}")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _pairs(value: Any) -> dict[str, str]:
    """MLflow's ``[{"key": k, "value": v}, …]`` as a dict of strings."""
    return {
        _text(p.get("key")): _text(p.get("value"))
        for p in (value if isinstance(value, list) else [])
        if isinstance(p, dict) and _text(p.get("key"))
    }


def import_version(
    registry: Registry,
    mlflow: MlflowRegistry,
    ref: ModelRef,
    *,
    workdir: Path,
    name: str | None = None,
    team: str = "default",
    aliases: tuple[str, ...] = (),
    trusted: bool = False,
    pushed_by: str = "",
) -> Version:
    """Copy the MLflow version `ref` into `registry` as a new version of `name` (default: the
    MLflow model's name), with its run's metrics and params, its tags (and where it came from:
    ``mlflow.model_uri``, ``mlflow.run_id``), its description as the version's docs and the
    registered model's as a new model's description. `workdir`: an empty folder for the files."""
    try:
        target = check_model_name(name or ref.name)
    except BerthError as exc:
        raise BerthError(exc.code, f"{exc.message} (give the berth model a name with --name)") from None
    found = mlflow.version(ref)
    metrics, params = mlflow.run_data(found.run_id)
    folder = workdir / "model"
    folder.mkdir()
    mlflow.download(found, folder)
    tags = {**found.tags, "mlflow.model_uri": f"models:/{found.name}/{found.version}"}
    if found.run_id:
        tags["mlflow.run_id"] = found.run_id
    request = PushRequest(
        name=target,
        team=team,
        description=found.model_description,
        metadata=VersionMetadata(metrics=metrics, params=dict(params), docs=found.description, tags=tags),
        aliases=aliases,
        trusted=trusted,
        pushed_by=pushed_by,
        source=f"mlflow models:/{found.name}/{found.version}",
    )
    return registry.push_file(folder, request)
