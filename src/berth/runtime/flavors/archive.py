"""Safe zip archives: extraction that refuses path tricks and zip bombs, and reproducible packing.

`safe_extract` refuses (ARTIFACT_INVALID) absolute member names, ``..`` parts, backslashes and
drive letters, symbolic links, duplicate names, more than `ExtractLimits.max_members` members,
and more than `ExtractLimits.max_total_bytes` uncompressed bytes or a compression ratio above
`ExtractLimits.max_ratio` (counted on the bytes actually inflated, not only on what the
archive declares).
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from berth.core.errors import BerthError, ErrorCode

_CHUNK = 1024 * 1024
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same folder always zips to the same bytes
_SKIPPED_PARTS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """How much an archive may unpack to."""

    max_members: int = 10_000
    max_total_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1024 * 1024
    """Members smaller than this are not held to `max_ratio` (tiny text files compress well)."""


def _invalid(archive: Path, reason: str) -> BerthError:
    return BerthError(ErrorCode.ARTIFACT_INVALID, f"{archive.name}: {reason}")


def _check_name(archive: Path, info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    member = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or member.is_absolute()
        or ".." in member.parts
        or (len(name) > 1 and name[1] == ":")
    ):
        raise _invalid(archive, f"refused member name {name!r} (absolute or outside the archive)")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _invalid(archive, f"refused symbolic link {name!r}")
    return member


def _check_sizes(archive: Path, infos: list[zipfile.ZipInfo], limits: ExtractLimits) -> None:
    if len(infos) > limits.max_members:
        raise _invalid(archive, f"{len(infos)} members, more than the limit of {limits.max_members}")
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise _invalid(archive, f"unpacks to {total} bytes, more than {limits.max_total_bytes}")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise _invalid(archive, f"member {info.filename!r} is compressed {ratio:.0f}:1 (a zip bomb?)")


def _copy(archive: Path, source: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Inflate one member, stopping at its declared size or the remaining budget; bytes written."""
    written = 0
    allowed = min(info.file_size, budget)
    with source.open(info) as reader, target.open("xb") as writer:
        while chunk := reader.read(_CHUNK):
            written += len(chunk)
            if written > allowed:
                raise _invalid(archive, f"member {info.filename!r} inflates past its declared size")
            writer.write(chunk)
    return written


def safe_extract(archive: Path, folder: Path, limits: ExtractLimits | None = None) -> list[Path]:
    """Unpack the zip `archive` into the existing, empty `folder`; the files it wrote."""
    limits = limits or ExtractLimits()
    root = folder.resolve()
    written: list[Path] = []
    try:
        with zipfile.ZipFile(archive) as source:
            infos = source.infolist()
            _check_sizes(archive, infos, limits)
            members = [_check_name(archive, info) for info in infos]
            if len(set(members)) != len(members):
                raise _invalid(archive, "duplicate member names")
            budget = limits.max_total_bytes
            for info, member in zip(infos, members, strict=True):
                target = root.joinpath(*member.parts)
                if not target.resolve().is_relative_to(root):
                    raise _invalid(archive, f"refused member name {info.filename!r}")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                budget -= _copy(archive, source, info, target, budget)
                written.append(target)
    except BerthError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, ValueError, EOFError) as exc:
        raise _invalid(archive, f"not a readable zip archive ({exc})") from exc
    return written


def write_zip(folder: Path, target: Path) -> Path:
    """Zip the files of `folder` (no symbolic links; caches skipped) into `target`, reproducibly."""
    files: list[Path] = []
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_PARTS)
        for name in sorted(names):
            path = Path(current) / name
            if path.is_symlink():
                raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{path} is a symbolic link; copy the file")
            if path.suffix != ".pyc" and path.resolve() != target.resolve():
                files.append(path)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with path.open("rb") as reader, archive.open(info, "w", force_zip64=True) as writer:
                shutil.copyfileobj(reader, writer, _CHUNK)
    return target
