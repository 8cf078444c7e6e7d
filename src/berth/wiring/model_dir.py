"""`berth serve --model-dir DIR`: one model from a folder, no registry database to run.

This is how a model reaches berth in a container of its own (`berth image build`) or on KServe,
whose storage initializer copies a model's files to ``/mnt/models`` before the server starts. The
folder (`berth.storage.model_folder`) is verified first: manifest, links, size and sha256. Then an
ephemeral home is made for this process (a fresh folder under ``BERTH_HOME``, removed at exit):
a SQLite registry holding that one version, its artifact stored and hashed again, and nothing
else. The server is an ordinary data-plane replica of it (`--role data`): OIP v2 REST, ``/v1``,
gRPC with ``--grpc-port``, ready once the model is loaded. It has no management API.

What it does not do, on purpose:
- **Prediction records** are off: they would go to a database that vanishes with the process.
  Record from a platform replica (``berth serve --role data``) when records are wanted.
- **API tokens** cannot exist in a database made at start, so ``BERTH_AUTH=tokens`` is refused;
  ``BERTH_AUTH=oidc`` (JWTs checked against the issuer's keys) works, or authentication at the
  mesh/ingress in front with ``BERTH_ALLOW_INSECURE_BIND=true`` (docs/image.md).
- A manifest that says the artifact needs trust (a pickle, pyfunc code) is served only with
  ``--trust-pickle``: the operator vouches for the folder, as a maintainer did for the push.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from berth.core.entities import NewVersion, VersionMetadata, check_model_name
from berth.core.errors import BerthError, ErrorCode
from berth.core.serving_groups import Role
from berth.core.settings import Settings
from berth.runtime.flavors.base import TRUST_SWITCHES
from berth.storage.model_folder import ModelFolder, read_model_folder
from berth.wiring.workspace import open_workspace

log = logging.getLogger(__name__)


def serve_model_dir(
    settings: Settings, folder: Path, *, trust: bool = False, name: str | None = None
) -> None:
    """Verify `folder`, then serve its model until interrupted (SIGINT/SIGTERM), under `name` when
    given (KServe calls the model by its InferenceService's name), else the manifest's."""
    from berth.wiring.serve import serve

    model = read_model_folder(folder)
    if name is not None:
        model = dataclasses.replace(
            model, manifest=dataclasses.replace(model.manifest, name=check_model_name(name))
        )
    check_model_dir_settings(settings, model, trust=trust)
    # uvicorn re-raises the SIGTERM it stopped on once it has shut down: exit through Python then,
    # not by the signal's default action, so the ephemeral home is removed.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with ephemeral_home(settings.home) as home:
        served = model_dir_settings(settings, home)
        install_model(served, model)
        log.info(
            "serving %s version %d from %s (%s, sha256 %s)",
            model.manifest.name,
            model.manifest.version,
            folder,
            model.manifest.flavor,
            model.manifest.sha256[:12],
        )
        serve(served)


def _exit_on_signal(signum: int, _: object) -> None:
    sys.exit(128 + signum)


def check_model_dir_settings(settings: Settings, model: ModelFolder, *, trust: bool) -> None:
    """Refuse what a one-model server cannot honour (before anything is written)."""
    if "tokens" in settings.auth_methods:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            "--model-dir serves without a registry database, so no API token can exist: use "
            "BERTH_AUTH=oidc, or authenticate in front of it (mesh, ingress) and set "
            "BERTH_AUTH=off with BERTH_ALLOW_INSECURE_BIND=true (docs/image.md)",
        )
    if settings.role not in (Role.ALL, Role.DATA):
        raise BerthError(ErrorCode.INVALID_REQUEST, "--model-dir serves inference: no --role api or gateway")
    if model.manifest.trusted and not trust:
        raise BerthError(
            ErrorCode.UNTRUSTED_ARTIFACT,
            f"loading this {model.manifest.flavor} model runs code or types berth does not allow by "
            f"itself (its manifest says trusted); serve it with {TRUST_SWITCHES} if you vouch for the folder",
        )


@contextlib.contextmanager
def ephemeral_home(parent: Path) -> Iterator[Path]:
    """A fresh home folder under `parent` (created when missing), removed when the server stops."""
    parent.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="model-dir-", dir=parent)).resolve()
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def model_dir_settings(settings: Settings, home: Path) -> Settings:
    """The settings of the one-model server: every store in `home`, named explicitly (worker
    processes read them back from the environment, where a platform's BERTH_DATABASE_URL may be)."""
    return settings.model_copy(
        update={
            "home": home,
            "database_url": f"sqlite:///{home / 'berth.db'}",
            "migrate_on_start": True,
            "artifact_uri": (home / "artifacts").as_uri(),
            "artifact_cache_dir": home / "cache",
            "export_uri": (home / "exports").as_uri(),
            "journal_dir": home / "journal",
            "role": Role.DATA.value,
            "serving_group": None,
            "record_predictions": False,
            "export_worker": False,
            "preload": True,
        }
    )


def install_model(settings: Settings, model: ModelFolder) -> None:
    """Put the folder's version into the (empty) registry of `settings`: its artifact stored (and
    hashed once more on the way in), the version with the manifest's flavor, signature and config."""
    manifest = model.manifest
    workspace = open_workspace(settings)
    try:
        workspace.catalog.get(manifest.flavor)  # an unknown flavor fails here, not in the reconciler
        with model.artifact.open("rb") as source:
            artifact = workspace.artifacts.put(source, filename=manifest.filename)
        if artifact.sha256 != manifest.sha256:  # the file changed after it was verified
            raise BerthError(
                ErrorCode.ARTIFACT_INTEGRITY,
                f"{manifest.filename} changed while it was read: {artifact.sha256} is not {manifest.sha256}",
            )
        metadata = VersionMetadata().merged(manifest.metadata_update())
        tags = {**metadata.tags, "berth.source_version": str(manifest.version)}
        workspace.store.create_version(
            manifest.name,
            NewVersion(
                flavor=manifest.flavor,
                artifact=artifact,
                signature=manifest.signature,
                runtime_config=manifest.runtime_config,
                input_example=manifest.input_example,
                metadata=VersionMetadata(
                    metrics=metadata.metrics,
                    params=metadata.params,
                    feature_importance=metadata.feature_importance,
                    docs=metadata.docs,
                    training_data=metadata.training_data,
                    tags=tags,
                ),
                trusted=manifest.trusted,
                pushed_by=str(manifest.metadata.get("pushed_by", "")),
                source="model-dir",
            ),
            aliases=manifest.aliases,
        )
    finally:
        workspace.close()
