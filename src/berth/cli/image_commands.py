"""``berth image build`` and ``berth image folder``: a model in a container (docs/image.md)."""

from __future__ import annotations

from pathlib import Path

import click

from berth.cli.options import registry, target_options


@click.group()
def image() -> None:
    """A model in a container: build an image that serves one verified version, or write its folder."""


@image.command("build")
@click.argument("reference")
@click.option("--tag", default=None, help="The image's name[:tag] (default berth-model-<name>:<version>).")
@click.option(
    "--base-image",
    envvar="BERTH_IMAGE",
    default="localhost/berth:latest",
    show_default=True,
    help="The berth image to build on (env BERTH_IMAGE; `make image` makes localhost/berth).",
)
@click.option(
    "--tool",
    type=click.Choice(["buildah", "podman"]),
    default=None,
    help="The build tool (default: buildah if installed, else podman).",
)
@click.option(
    "--storage-driver",
    type=click.Choice(["overlay", "vfs", "btrfs", "zfs"]),
    default=None,
    help="The build tool's storage driver (default: its configuration's; vfs where overlay cannot mount).",
)
@click.option(
    "--trust-pickle", is_flag=True, help="Allow a version whose loading runs code (a pickle, pyfunc)."
)
@target_options
def build(
    reference: str,
    tag: str | None,
    base_image: str,
    tool: str | None,
    storage_driver: str | None,
    trust_pickle: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Bake the version REFERENCE names (MODEL@ALIAS, MODEL:VERSION or MODEL) into an image that
    serves it with `berth serve --model-dir`: its artifact's sha256, signature and metadata are
    checked against the registry before the build."""
    from berth.cli.image_build import BuildOptions, build_image
    from berth.core.model_refs import ModelRef

    ref = ModelRef.parse(reference)
    options = BuildOptions(
        tag=tag, base=base_image, tool=tool, storage_driver=storage_driver, trust=trust_pickle
    )
    with registry(home, url) as reg:
        built, manifest = build_image(reg, ref, options)
    click.echo(f"built {built}: {manifest.name} version {manifest.version} [sha256 {manifest.sha256[:12]}]")


@image.command("folder")
@click.argument("reference")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@target_options
def folder(reference: str, out: Path, home: Path | None, url: str | None) -> None:
    """Write the model folder of REFERENCE to OUT (new or empty): what `berth serve --model-dir`
    serves, e.g. uploaded to the storage URI a KServe InferenceService names."""
    from berth.cli.image_build import export_model_folder
    from berth.core.model_refs import ModelRef

    with registry(home, url) as reg:
        written = export_model_folder(reg, ModelRef.parse(reference), out)
    manifest = written.manifest
    click.echo(f"wrote {out}: {manifest.name} version {manifest.version} [sha256 {manifest.sha256[:12]}]")
