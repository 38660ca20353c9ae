"""Safe extraction of the single database file from an archive."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sqlite3
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from shim_sqlite3.archive import (
    DEFAULT_MAX_EXTRACT_BYTES,
    MAX_EXTRACT_BYTES_ENV,
    ArchiveError,
    ArchiveTooLargeError,
    detect_format,
    extract_single_file,
)

from shim.errors import UserError

DATA = b"SQLite format 3\x00" + bytes(range(256)) * 64


def make_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("create table t(a integer, b text)")
    con.executemany("insert into t values (?, ?)", [(i, f"row {i}") for i in range(100)])
    con.commit()
    con.close()
    return path


def write_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def write_tar(
    path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w"
) -> Path:
    with tarfile.open(path, mode) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --- every supported format ----------------------------------------------------------------

TAR_MODES = {"tar": "w", "tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}


@pytest.mark.parametrize("kind", list(TAR_MODES))
def test_tar_formats(tmp_path: Path, kind: str) -> None:
    archive = write_tar(tmp_path / f"db.{kind}", [("chinook.db", DATA)], TAR_MODES[kind])
    out = extract_single_file(archive, tmp_path / "out")
    assert out == tmp_path / "out" / "chinook.db"
    assert out.read_bytes() == DATA


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_zip_methods(tmp_path: Path, method: int) -> None:
    archive = write_zip(tmp_path / "db.zip", {"chinook.db": DATA}, method)
    out = extract_single_file(archive, tmp_path / "out")
    assert out.name == "chinook.db" and out.read_bytes() == DATA


@pytest.mark.parametrize(
    "suffix, compress", [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)]
)
def test_single_compressed_file(tmp_path: Path, suffix: str, compress: Callable) -> None:
    archive = tmp_path / f"chinook.db{suffix}"
    archive.write_bytes(compress(DATA))
    out = extract_single_file(archive, tmp_path / "out")
    assert out.name == "chinook.db" and out.read_bytes() == DATA


def test_real_database_in_subdirectory_with_directory_entries(tmp_path: Path) -> None:
    db = make_db(tmp_path / "src.db")
    archive = tmp_path / "db.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path, arcname="data", recursive=False)  # a directory entry
        tf.add(db, arcname="data/nested/my db.sqlite")
    out = extract_single_file(archive, tmp_path / "out")
    assert out.parent == tmp_path / "out" and out.name == "my_db.sqlite"
    con = sqlite3.connect(out)
    assert con.execute("select count(*) from t").fetchone() == (100,)
    con.close()


def test_zip_with_directory_entries(tmp_path: Path) -> None:
    archive = tmp_path / "db.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/", b"")
        zf.writestr("data/db.sqlite", DATA)
    assert extract_single_file(archive, tmp_path / "out").read_bytes() == DATA


def test_macos_metadata_is_ignored(tmp_path: Path) -> None:
    archive = write_zip(
        tmp_path / "finder.zip",
        {"chinook.db": DATA, "__MACOSX/": b"", "__MACOSX/._chinook.db": b"\x00\x05\x16\x07"},
    )
    assert extract_single_file(archive, tmp_path / "a").read_bytes() == DATA
    archive = write_tar(
        tmp_path / "mac.tar.gz",
        [tar_entry(".", tarfile.DIRTYPE), ("./._chinook.db", b"\x00\x05"), ("./chinook.db", DATA)],
        "w:gz",
    )
    got = extract_single_file(archive, tmp_path / "b")
    assert got.name == "chinook.db" and got.read_bytes() == DATA


def test_format_detected_by_content_not_name(tmp_path: Path) -> None:
    tgz = write_tar(tmp_path / "looks-like.zip", [("db", DATA)], "w:gz")
    assert detect_format(tgz) == "gzip"
    assert extract_single_file(tgz, tmp_path / "a").read_bytes() == DATA
    z = write_zip(tmp_path / "looks-like.tar.gz", {"db": DATA})
    assert detect_format(z) == "zip"
    assert extract_single_file(z, tmp_path / "b").read_bytes() == DATA
    bare = tmp_path / "noextension"
    bare.write_bytes(gzip.compress(DATA))
    assert extract_single_file(bare, tmp_path / "c").name == "database"


def test_v7_tar_without_magic_is_detected(tmp_path: Path) -> None:
    archive = tmp_path / "old.tar"
    with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("db")
        info.size = len(DATA)
        tf.addfile(info, io.BytesIO(DATA))
    raw = bytearray(archive.read_bytes())
    raw[257:265] = b"\x00" * 8  # drop the ustar magic and version
    header = raw[:512]
    header[148:156] = b" " * 8
    raw[148:156] = b"%06o\x00 " % sum(header)
    archive.write_bytes(bytes(raw))
    assert detect_format(archive) == "tar"
    assert extract_single_file(archive, tmp_path / "out").read_bytes() == DATA


# --- not an archive ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, described",
    [
        (None, "uncompressed SQLite database"),
        (b"", "an empty file"),
        (b"<!DOCTYPE html><html>Access denied</html>", "HTML page"),
        (b"\x28\xb5\x2f\xfd" + b"\x00" * 20, "zstandard"),
        (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 20, "7-Zip"),
        (b"just some text\n", "plain text"),
        (bytes([0x80, 0x81, 0xFE, 0x00]) * 10, "unknown binary data starting with 80 81 fe 00"),
    ],
)
def test_not_an_archive_names_what_it_is(
    tmp_path: Path, content: bytes | None, described: str
) -> None:
    path = tmp_path / "db.zip"
    if content is None:
        make_db(path)
    else:
        path.write_bytes(content)
    with pytest.raises(ArchiveError) as err:
        extract_single_file(path, tmp_path / "out")
    assert described in str(err.value)
    assert "not a supported archive" in str(err.value)
    assert err.value.code == "BadArchive" and isinstance(err.value, UserError)


def test_truncated_archive(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "db.tar.gz", [("db", os.urandom(200_000))], "w:gz")
    archive.write_bytes(archive.read_bytes()[:50_000])
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        extract_single_file(archive, tmp_path / "out")
    assert files_in(tmp_path / "out") == []


def test_corrupt_zip(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "db.zip", {"db": os.urandom(10_000)})
    raw = bytearray(archive.read_bytes())
    raw[100:200] = b"\x00" * 100  # inside the compressed data: CRC fails
    archive.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="corrupt"):
        extract_single_file(archive, tmp_path / "out")
    assert files_in(tmp_path / "out") == []


# --- unsafe or wrong content ----------------------------------------------------------------


def test_zip_slip_member(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "evil.zip", {"../evil": DATA})
    with pytest.raises(ArchiveError) as err:
        extract_single_file(archive, tmp_path / "out")
    assert "'../evil'" in str(err.value) and "'..'" in str(err.value)
    assert not (tmp_path / "evil").exists()


def test_tar_slip_member_nested(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "evil.tar", [("a/../../evil", DATA)])
    with pytest.raises(ArchiveError, match=r"'a/\.\./\.\./evil'"):
        extract_single_file(archive, tmp_path / "out")


@pytest.mark.parametrize("name", ["/etc/evil", "\\evil", "C:/evil", "C:\\evil"])
def test_absolute_member_zip(tmp_path: Path, name: str) -> None:
    archive = write_zip(tmp_path / "abs.zip", {name: DATA})
    with pytest.raises(ArchiveError, match="absolute path"):
        extract_single_file(archive, tmp_path / "out")


def test_absolute_member_tar(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "abs.tar.gz", [("/etc/evil", DATA)], "w:gz")
    with pytest.raises(ArchiveError, match="absolute path, '/etc/evil'"):
        extract_single_file(archive, tmp_path / "out")


def test_symlink_member_tar(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "l.tar", [tar_entry("db", tarfile.SYMTYPE, "/etc/passwd")])
    with pytest.raises(ArchiveError) as err:
        extract_single_file(archive, tmp_path / "out")
    assert "symbolic link member 'db' -> '/etc/passwd'" in str(err.value)
    assert files_in(tmp_path / "out") == []


def test_symlink_after_the_file_tar(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "l.tar", [("db", DATA), tar_entry("db2", tarfile.SYMTYPE, "db")])
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract_single_file(archive, tmp_path / "out")
    assert files_in(tmp_path / "out") == []  # the file extracted first is removed again


def test_hardlink_member_tar(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "l.tar", [tar_entry("db", tarfile.LNKTYPE, "/etc/shadow")])
    with pytest.raises(ArchiveError, match="hard link member 'db'"):
        extract_single_file(archive, tmp_path / "out")


def test_symlink_member_zip(tmp_path: Path) -> None:
    archive = tmp_path / "l.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("db")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link member 'db'"):
        extract_single_file(archive, tmp_path / "out")


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_device_and_fifo_members_tar(tmp_path: Path, kind: bytes) -> None:
    archive = write_tar(tmp_path / "d.tar", [tar_entry("dev", kind)])
    with pytest.raises(ArchiveError, match="special member 'dev'"):
        extract_single_file(archive, tmp_path / "out")


def test_fifo_member_zip(tmp_path: Path) -> None:
    archive = tmp_path / "f.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("fifo")
        info.external_attr = (stat.S_IFIFO | 0o644) << 16
        zf.writestr(info, b"")
    with pytest.raises(ArchiveError, match="special member 'fifo'"):
        extract_single_file(archive, tmp_path / "out")


def test_two_files_zip(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "two.zip", {"a.db": DATA, "notes/b.txt": b"x"})
    with pytest.raises(ArchiveError) as err:
        extract_single_file(archive, tmp_path / "out")
    assert "exactly one file" in str(err.value)
    assert "'a.db'" in str(err.value) and "'notes/b.txt'" in str(err.value)


def test_several_files_tar_names_them_all(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "many.tar.xz", [(f"f{i}", b"x") for i in range(4)], "w:xz")
    with pytest.raises(ArchiveError) as err:
        extract_single_file(archive, tmp_path / "out")
    for i in range(4):
        assert f"'f{i}'" in str(err.value)
    assert files_in(tmp_path / "out") == []


def test_many_files_listing_is_bounded(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "many.zip", {f"f{i:03}": b"" for i in range(50)})
    with pytest.raises(ArchiveError) as err:
        extract_single_file(archive, tmp_path / "out")
    assert "'f019'" in str(err.value) and "'f020'" not in str(err.value)
    assert str(err.value).count("...") == 1


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_no_regular_file(tmp_path: Path, kind: str) -> None:
    if kind == "zip":
        archive = write_zip(tmp_path / "e.zip", {"dir/": b""})
    else:
        archive = write_tar(tmp_path / "e.tar", [tar_entry("dir", tarfile.DIRTYPE)])
    with pytest.raises(ArchiveError, match="holds no regular file"):
        extract_single_file(archive, tmp_path / "out")


def test_encrypted_zip_member(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "enc.zip", {"db": DATA})
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"PK\x03\x04") + 6] |= 0x1  # "encrypted" flag, local header
    raw[raw.index(b"PK\x01\x02") + 8] |= 0x1  # and central directory
    archive.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="encrypted"):
        extract_single_file(archive, tmp_path / "out")


# --- size limits (archive bombs) ------------------------------------------------------------

ZEROS = b"\x00" * (4 * 1024 * 1024)


def test_zip_bomb(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "bomb.zip", {"db": ZEROS})
    assert archive.stat().st_size < 50_000
    with pytest.raises(ArchiveTooLargeError) as err:
        extract_single_file(archive, tmp_path / "out", max_bytes=1024 * 1024)
    assert "'db'" in str(err.value) and MAX_EXTRACT_BYTES_ENV in str(err.value)
    assert err.value.code == "ArchiveTooLarge" and isinstance(err.value, ArchiveError)
    assert files_in(tmp_path / "out") == []


def test_zip_bomb_with_lying_header(tmp_path: Path) -> None:
    # the member claims 10 bytes; what it really holds is never trusted nor fully written
    archive = write_zip(tmp_path / "bomb.zip", {"db": ZEROS})
    raw = bytearray(archive.read_bytes())
    size = len(ZEROS).to_bytes(4, "little")
    for _ in range(2):  # local header and central directory entry
        at = raw.index(size)
        raw[at : at + 4] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError):
        extract_single_file(archive, tmp_path / "out", max_bytes=1024 * 1024)
    assert files_in(tmp_path / "out") == []


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_single_file_bomb_has_no_declared_size(tmp_path: Path, compress: Callable) -> None:
    archive = tmp_path / "bomb.db.gz"
    archive.write_bytes(compress(ZEROS))
    with pytest.raises(ArchiveTooLargeError):
        extract_single_file(archive, tmp_path / "out", max_bytes=1024 * 1024)
    assert files_in(tmp_path / "out") == []


def test_tar_gz_bomb(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "bomb.tar.gz", [("db", ZEROS)], "w:gz")
    with pytest.raises(ArchiveTooLargeError):
        extract_single_file(archive, tmp_path / "out", max_bytes=1024 * 1024)
    assert files_in(tmp_path / "out") == []


def test_limit_is_inclusive(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "db.zip", {"db": DATA})
    assert extract_single_file(archive, tmp_path / "out", max_bytes=len(DATA)).exists()


def test_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = write_zip(tmp_path / "db.zip", {"db": DATA})
    monkeypatch.setenv(MAX_EXTRACT_BYTES_ENV, "100")
    with pytest.raises(ArchiveTooLargeError):
        extract_single_file(archive, tmp_path / "out")
    # an explicit argument wins over the environment
    assert extract_single_file(archive, tmp_path / "out", max_bytes=10**6).exists()
    monkeypatch.setenv(MAX_EXTRACT_BYTES_ENV, "lots")
    with pytest.raises(UserError, match=MAX_EXTRACT_BYTES_ENV):
        extract_single_file(archive, tmp_path / "out")


def test_default_limit() -> None:
    assert DEFAULT_MAX_EXTRACT_BYTES == 8 * 1024**3


# --- where the file lands -------------------------------------------------------------------


def test_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "db").write_bytes(b"keep me")
    archive = write_zip(tmp_path / "db.zip", {"db": DATA})
    got = extract_single_file(archive, out)
    assert got == out / "db-1" and got.read_bytes() == DATA
    assert (out / "db").read_bytes() == b"keep me"


def test_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"original")
    (out / "chinook.db").symlink_to(victim)
    archive = write_zip(tmp_path / "db.zip", {"chinook.db": DATA})
    got = extract_single_file(archive, out)
    assert got != out / "chinook.db" and got.read_bytes() == DATA
    assert victim.read_bytes() == b"original"


@pytest.mark.parametrize(
    "member, expected",
    [("..db", "db"), (".hidden", "hidden"), ("a b;c$(x).db", "a_b_c_x_.db"), ("...", "database")],
)
def test_safe_names(tmp_path: Path, member: str, expected: str) -> None:
    archive = write_zip(tmp_path / "db.zip", {member: DATA})
    got = extract_single_file(archive, tmp_path / "out")
    assert got == tmp_path / "out" / expected


def test_archive_inside_dest_dir_is_not_clobbered(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "db.zip", {"db.zip": DATA})
    got = extract_single_file(archive, tmp_path)
    assert got == tmp_path / "db-1.zip"
    assert zipfile.is_zipfile(archive)
