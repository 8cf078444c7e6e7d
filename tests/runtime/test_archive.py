"""Safe extraction: zip-slip, links and zip bombs are refused; packing is reproducible."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.archive import ExtractLimits, safe_extract, write_zip
from berth.runtime.flavors.catalog import FlavorCatalog

MANIFEST = ("berth_pyfunc.json", '{"entry": "model:Model"}')


def _zip(path: Path, members: list[tuple[str, str | bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def _refused(archive: Path, folder: Path, limits: ExtractLimits | None = None) -> BerthError:
    folder.mkdir(exist_ok=True)
    with pytest.raises(BerthError) as refused:
        safe_extract(archive, folder, limits)
    assert refused.value.code is ErrorCode.ARTIFACT_INVALID
    return refused.value


@pytest.mark.parametrize(
    "name", ["../evil.py", "a/../../evil.py", "/etc/evil.py", "C:/evil.py", "a\\..\\evil.py"]
)
def test_zip_slip_is_refused(name: str, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "slip.zip", [MANIFEST, (name, "print('owned')")])

    _refused(archive, tmp_path / "out")

    assert not (tmp_path / "evil.py").exists()


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr(*MANIFEST)
        link = zipfile.ZipInfo("model.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        out.writestr(link, "/etc/passwd")

    assert "link" in _refused(archive, tmp_path / "out").message


def test_zip_bomb_is_refused_by_ratio(catalog: FlavorCatalog, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", [MANIFEST, ("model.py", b"\0" * (20 * 1024 * 1024))])

    message = _refused(archive, tmp_path / "out").message
    with pytest.raises(BerthError) as inspected:
        catalog.get("pyfunc").inspect_file(archive, trusted=True)

    assert "zip bomb" in message
    assert inspected.value.code is ErrorCode.ARTIFACT_INVALID


def test_total_size_and_member_count_limits(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "many.zip", [(f"f{i}.txt", "x" * 100) for i in range(20)])

    _refused(archive, tmp_path / "a", ExtractLimits(max_members=10))
    _refused(archive, tmp_path / "b", ExtractLimits(max_total_bytes=1000))


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "dupe.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("model.py", "a = 1")
        with pytest.warns(UserWarning, match="Duplicate name"):
            out.writestr("model.py", "a = 2")

    _refused(archive, tmp_path / "out")


def test_extract_and_reproducible_zip(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "util.py").write_text("X = 1\n")
    (source / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0")
    (source / "data.bin").write_bytes(b"\1\2\3")

    first = write_zip(source, tmp_path / "one.zip").read_bytes()
    second = write_zip(source, tmp_path / "two.zip").read_bytes()
    (tmp_path / "out").mkdir()
    written = safe_extract(tmp_path / "one.zip", tmp_path / "out")

    assert first == second
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["data.bin", "pkg/util.py"]
    assert (tmp_path / "out" / "data.bin").read_bytes() == b"\1\2\3"
