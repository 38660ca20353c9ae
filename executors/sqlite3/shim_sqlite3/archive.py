"""Safe extraction of the one database file held by a compressed SQLite3 task ``uri``.

:func:`extract_single_file` accepts zip, tar, tar.gz, tar.bz2 and tar.xz archives — and, as
an extension over flytekit, a database compressed on its own with gzip, bzip2 or xz
(``chinook.db.gz``). The format is detected from the file's first bytes, never from its name.

Rules, each enforced with an :class:`ArchiveError` that names the member and says what to do:

- exactly one regular file; directory entries are ignored, and so is macOS metadata
  (members under ``__MACOSX/`` and AppleDouble ``._name`` files, which Finder and macOS
  ``tar`` add next to the real file);
- no absolute member paths, no ``..`` components, no symbolic or hard links, no devices,
  fifos or sockets, no encrypted zip members;
- at most ``max_bytes`` bytes are written (default 8 GiB, env
  ``SHIM_SQLITE3_MAX_EXTRACT_BYTES``). Extraction streams and counts the bytes actually
  produced by the decompressor, so an archive bomb stops there whatever its headers claim;
- the file is written inside ``dest_dir`` under a sanitized version of its base name, created
  exclusively (an existing file or symlink there is never followed or overwritten), first
  under a temporary name then renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from shim import envconf
from shim.errors import UserError

__all__ = [
    "DEFAULT_MAX_EXTRACT_BYTES",
    "MAX_EXTRACT_BYTES_ENV",
    "ArchiveError",
    "ArchiveTooLargeError",
    "detect_format",
    "extract_single_file",
]

#: Default limit of the extracted size: 8 GiB.
DEFAULT_MAX_EXTRACT_BYTES = 8 * 1024**3
#: Environment variable overriding the default limit (a number of bytes).
MAX_EXTRACT_BYTES_ENV = "SHIM_SQLITE3_MAX_EXTRACT_BYTES"

_CHUNK = 1024 * 1024
_MAX_MEMBERS = 100_000  # entries scanned before giving up (directory-entry floods)
_MAX_LISTED = 20  # member names shown in an error


class ArchiveError(UserError):
    """The task's compressed database cannot be used: not an archive, or not a safe one."""

    code = "BadArchive"


class ArchiveTooLargeError(ArchiveError):
    """Extracting the archive would write more than the allowed number of bytes."""

    code = "ArchiveTooLarge"


# --- format detection ---------------------------------------------------------------------------

_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\x1f\x8b", 0, "gzip"),
    (b"BZh", 0, "bzip2"),
    (b"\xfd7zXZ\x00", 0, "xz"),
    (b"PK\x03\x04", 0, "zip"),
    (b"PK\x05\x06", 0, "zip"),  # empty zip
    (b"PK\x07\x08", 0, "zip"),  # spanned zip marker
    (b"ustar", 257, "tar"),
]

# Known formats that are not supported, to name them in the error.
_OTHER_MAGIC: list[tuple[bytes, str]] = [
    (b"SQLite format 3\x00", "an uncompressed SQLite database (set compressed=False)"),
    (b"\x28\xb5\x2f\xfd", "a zstandard stream (not supported; use gzip, bzip2 or xz)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (not supported; use zip or tar)"),
    (b"Rar!\x1a\x07", "a RAR archive (not supported; use zip or tar)"),
    (b"\x04\x22\x4d\x18", "an LZ4 frame (not supported; use gzip, bzip2 or xz)"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
]


def detect_format(path: str | os.PathLike[str]) -> str:
    """The archive format of ``path`` from its content: ``zip``, ``tar``, ``gzip``, ``bzip2``
    or ``xz``; anything else raises :class:`ArchiveError` naming what the file looks like.
    ``gzip``/``bzip2``/``xz`` may hold a tar or a single compressed file.
    """
    with open(path, "rb") as f:
        head = f.read(512)
    for magic, offset, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if _is_tar_header(head):
        return "tar"  # pre-POSIX (v7) tar: no magic, but a valid header checksum
    if zipfile.is_zipfile(path):
        return "zip"  # data prepended to the zip (self-extracting archives)
    raise ArchiveError(
        f"the database file {os.fspath(path)!r} is marked compressed but is not a supported "
        f"archive: it looks like {_describe(head)}. Supported: zip, tar, tar.gz, tar.bz2, "
        "tar.xz (and one file compressed with gzip, bzip2 or xz)"
    )


def _describe(head: bytes) -> str:
    if not head:
        return "an empty file"
    for magic, what in _OTHER_MAGIC:
        if head.startswith(magic):
            return what
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "an HTML page (did the download return an error page?)"
    if stripped.startswith((b"{", b"[")):
        return "JSON or other text"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"unknown binary data starting with {head[:8].hex(' ')}"
    return "plain text"


def _is_tar_header(block: bytes) -> bool:
    if len(block) < 512 or block[:512] == b"\x00" * 512:
        return False
    try:
        tarfile.TarInfo.frombuf(block[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


# --- limits, names, writing ------------------------------------------------------------------


def _resolve_max_bytes(max_bytes: int | None) -> int:
    if max_bytes is not None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        return max_bytes
    return envconf.integer(MAX_EXTRACT_BYTES_ENV, DEFAULT_MAX_EXTRACT_BYTES, minimum=0)


def _too_large(member: str, limit: int) -> ArchiveTooLargeError:
    return ArchiveTooLargeError(
        f"archive member {member!r} extracts to more than {limit} bytes, the limit; if the "
        f"database really is that large, raise {MAX_EXTRACT_BYTES_ENV} (bytes) or ship the "
        "database uncompressed"
    )


_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_name(member_name: str, fallback: str = "database") -> str:
    base = re.split(r"[/\\]", member_name.rstrip("/\\"))[-1]
    base = _UNSAFE_CHARS.sub("_", base).lstrip(".")[:200]
    return base if base.strip("._") else fallback


def _is_macos_metadata(name: str) -> bool:
    parts = [p for p in re.split(r"[/\\]", name) if p]
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1].startswith("._"))


def _check_member_path(name: str, archive: str) -> None:
    parts = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise ArchiveError(
            f"archive {archive!r} has a member with an absolute path, {name!r}; members must "
            "have relative paths: recreate the archive from inside the database's directory"
        )
    if ".." in parts:
        raise ArchiveError(
            f"archive {archive!r} has a member whose path contains '..', {name!r}, which could "
            "write outside the extraction directory; recreate the archive with relative paths"
        )
    if "\x00" in name:
        raise ArchiveError(f"archive {archive!r} has a member name with a NUL byte: {name!r}")


def _write_stream(read: Callable[[int], bytes], dest_dir: Path, member: str, limit: int) -> Path:
    """Copy ``read`` into a new file in ``dest_dir``, counting bytes; return its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = _safe_name(member)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for attempt in range(1000):
        tmp = dest_dir / f".{name}.{os.getpid()}.{attempt}.partial"
        try:
            fd = os.open(tmp, flags, 0o644)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - a thousand leftovers
        raise ArchiveError(f"cannot create a temporary file in {str(dest_dir)!r}")
    try:
        total = 0
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = read(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise _too_large(member, limit)
                out.write(chunk)
        final = dest_dir / name
        stem, dot, ext = name.partition(".")
        n = 0
        while True:
            try:
                # link() fails if the name exists (even as a dangling symlink): no overwrite
                os.link(tmp, final)
                break
            except FileExistsError:
                n += 1
                final = dest_dir / f"{stem}-{n}{dot}{ext}"
            except OSError as exc:  # file systems without hard links
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                if os.path.lexists(final):
                    n += 1
                    final = dest_dir / f"{stem}-{n}{dot}{ext}"
                    continue
                os.rename(tmp, final)
                break
        return final
    finally:
        tmp.unlink(missing_ok=True)


# --- the formats ----------------------------------------------------------------------------


def extract_single_file(
    archive_path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
) -> Path:
    """Extract the one regular file held by ``archive_path`` into ``dest_dir``.

    ``max_bytes`` limits the bytes written; ``None`` means ``$SHIM_SQLITE3_MAX_EXTRACT_BYTES``
    or, when unset, 8 GiB. Returns the path of the extracted file (inside ``dest_dir``, which
    is created if needed). Raises :class:`ArchiveError` (:class:`ArchiveTooLargeError` for
    the size limit) for anything unsupported or unsafe; see the module docstring.
    """
    archive = os.fspath(archive_path)
    dest = Path(dest_dir)
    limit = _resolve_max_bytes(max_bytes)
    fmt = detect_format(archive)
    if fmt == "zip":
        return _extract_zip(archive, dest, limit)
    if fmt == "tar":
        return _extract_tar(archive, None, dest, limit)
    opener: Callable[[str], IO[bytes]] = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[
        fmt
    ]
    try:
        with opener(archive) as stream:
            head = _read_up_to(stream, 512)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ArchiveError(f"{fmt} archive {archive!r} is corrupt or truncated: {exc}") from exc
    if _is_tar_header(head) or head[257:262] == b"ustar":
        return _extract_tar(archive, fmt, dest, limit)
    # a single compressed file: name it after the archive without its compression suffix
    base = os.path.basename(archive)
    member = re.sub(r"\.(gz|gzip|tgz|bz2|tbz2?|xz|txz)$", "", base, flags=re.IGNORECASE)
    if member == base:
        member = "database"
    try:
        with opener(archive) as stream:
            return _write_stream(stream.read, dest, member, limit)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ArchiveError(f"{fmt} archive {archive!r} is corrupt or truncated: {exc}") from exc


def _read_up_to(stream: BinaryIO | IO[bytes], n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _many_files_error(archive: str, names: list[str], more: bool) -> ArchiveError:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    if more or len(names) > _MAX_LISTED:
        shown += ", ..."
    return ArchiveError(
        f"archive {archive!r} must hold exactly one file, the database, but holds several: "
        f"{shown}; put only the database file in the archive"
    )


def _no_file_error(archive: str) -> ArchiveError:
    return ArchiveError(
        f"archive {archive!r} holds no regular file; it must hold exactly one, the database"
    )


def _extract_zip(archive: str, dest: Path, limit: int) -> Path:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(f"zip archive {archive!r} is corrupt or truncated: {exc}") from exc
    with zf:
        files: list[zipfile.ZipInfo] = []
        for info in zf.infolist():
            name = info.filename
            _check_member_path(name, archive)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(
                    f"archive {archive!r} has a symbolic link member {name!r}; links are not "
                    "allowed: archive the database file itself"
                )
            if info.is_dir() or stat.S_ISDIR(mode) or _is_macos_metadata(name):
                continue
            if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                raise ArchiveError(
                    f"archive {archive!r} has a special member {name!r} (device, fifo or "
                    "socket); only a regular file is allowed"
                )
            files.append(info)
        if not files:
            raise _no_file_error(archive)
        if len(files) > 1:
            raise _many_files_error(archive, [f.filename for f in files], False)
        info = files[0]
        if info.flag_bits & 0x1:
            raise ArchiveError(
                f"archive {archive!r} member {info.filename!r} is encrypted; "
                "use an archive without a password"
            )
        if info.file_size > limit:  # early answer; the real check counts bytes below
            raise _too_large(info.filename, limit)
        try:
            with zf.open(info) as stream:
                return _write_stream(stream.read, dest, info.filename, limit)
        except NotImplementedError as exc:
            raise ArchiveError(
                f"archive {archive!r} member {info.filename!r} uses an unsupported "
                f"compression method ({exc}); recreate it with deflate, bzip2 or lzma"
            ) from exc
        except (zipfile.BadZipFile, OSError, EOFError, lzma.LZMAError) as exc:
            raise ArchiveError(
                f"zip archive {archive!r} member {info.filename!r} is corrupt: {exc}"
            ) from exc


def _tar_members(tf: tarfile.TarFile, archive: str) -> Iterator[tarfile.TarInfo]:
    for count, member in enumerate(tf, start=1):
        if count > _MAX_MEMBERS:
            raise ArchiveError(
                f"archive {archive!r} has more than {_MAX_MEMBERS} entries; it must hold "
                "exactly one file, the database"
            )
        yield member


def _extract_tar(archive: str, compression: str | None, dest: Path, limit: int) -> Path:
    mode = {None: "r|", "gzip": "r|gz", "bzip2": "r|bz2", "xz": "r|xz"}[compression]
    kind = {None: "tar", "gzip": "tar.gz", "bzip2": "tar.bz2", "xz": "tar.xz"}[compression]
    extracted: Path | None = None
    first_name = ""
    try:
        # stream mode: one pass over the (possibly compressed) data, members in order
        with tarfile.open(archive, mode) as tf:
            members = _tar_members(tf, archive)
            for member in members:
                name = member.name
                _check_member_path(name, archive)
                if member.issym() or member.islnk():
                    kind_name = "symbolic" if member.issym() else "hard"
                    raise ArchiveError(
                        f"archive {archive!r} has a {kind_name} link member {name!r} -> "
                        f"{member.linkname!r}; links are not allowed: archive the database "
                        "file itself"
                    )
                if member.isdir() or (member.isreg() and _is_macos_metadata(name)):
                    continue
                if not member.isreg():
                    raise ArchiveError(
                        f"archive {archive!r} has a special member {name!r} (device, fifo or "
                        "other non-regular file); only a regular file is allowed"
                    )
                if extracted is not None:
                    names = [first_name, name]
                    more = False
                    for other in members:  # name the others too, within bounds
                        if other.isreg() and not _is_macos_metadata(other.name):
                            names.append(other.name)
                            if len(names) > _MAX_LISTED:
                                more = True
                                break
                    raise _many_files_error(archive, names, more)
                if member.size > limit:  # early answer; the real check counts bytes below
                    raise _too_large(name, limit)
                stream = tf.extractfile(member)
                assert stream is not None
                extracted = _write_stream(stream.read, dest, name, limit)
                first_name = name
    except ArchiveError:
        if extracted is not None:
            extracted.unlink(missing_ok=True)
        raise
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        if extracted is not None:
            extracted.unlink(missing_ok=True)
        raise ArchiveError(f"{kind} archive {archive!r} is corrupt or truncated: {exc}") from exc
    if extracted is None:
        raise _no_file_error(archive)
    return extracted
