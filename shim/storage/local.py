"""Local files with os/shutil: atomic writes (temp file in the same directory, fsync,
``os.replace``) and tree walking. No fsspec here."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterator
from typing import BinaryIO

CHUNK = 1 << 20

#: errno values of local file operations that trying again (on this node or another) cannot
#: fix: the path, the permissions or the file system's shape are wrong for this task. Any other
#: OSError (ENOSPC, EIO, EMFILE, ENOMEM, EAGAIN, ESTALE, ...) may pass on a retry.
PERMANENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ENAMETOOLONG",  # a path component or the path is too long
        "EINVAL",  # an invalid argument (e.g. a name the file system refuses)
        "EACCES",  # permission denied
        "EPERM",  # operation not permitted
        "EROFS",  # read-only file system
        "ENOTDIR",  # a path component is a file
        "EISDIR",  # a directory where a file is expected
        "ELOOP",  # too many symbolic links
        "EEXIST",  # exists where it must not
        "ENOTEMPTY",  # directory not empty
        "EXDEV",  # across file systems
        "EFBIG",  # file too large for the file system
        "EILSEQ",  # a name the file system cannot encode
        "EBADF",  # a bad file descriptor: a bug, not a fault
    )
    if hasattr(errno, name)
)


def retry_can_fix(exc: OSError) -> bool:
    """Whether a local OSError may pass when tried again (see :data:`PERMANENT_ERRNOS`).
    ``ENOENT`` (a missing file) is left to the caller, who knows whether it is an input."""
    return exc.errno not in PERMANENT_ERRNOS


def copy_stream(src: BinaryIO, dst: BinaryIO) -> None:
    """Copy ``src`` to ``dst`` in 1 MiB chunks (never the whole content in memory)."""
    shutil.copyfileobj(src, dst, CHUNK)


def _tmp_name(path: str) -> str:
    d, base = os.path.split(path)
    return os.path.join(d, f".{base[:200]}.{os.urandom(6).hex()}.tmp")


def _fsync_dir(d: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str, *, fsync: bool = True) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` (after an
    fsync when ``fsync``), on failure it is removed. Parent directories are created."""
    path = os.path.abspath(path)
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(d)


def atomic_write(path: str, writer: Callable[[BinaryIO], None], *, fsync: bool = True) -> None:
    """Create or replace ``path`` with what ``writer`` writes into a binary file object, so
    that readers see either the old content or the complete new one, never a partial file;
    durably (file and directory fsynced) unless ``fsync`` is False."""
    path = os.path.abspath(path)
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    tmp = _tmp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o666)  # mode honours the umask, like a plain open()
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(d)


def copy_file(src: str, dst: str) -> None:
    """Atomically copy the local file ``src`` to ``dst``, streaming."""
    with open(src, "rb") as fsrc:
        atomic_write(dst, lambda fdst: copy_stream(fsrc, fdst))


def move_file(src: str, dst: str) -> bool:
    """Rename the local file ``src`` to ``dst`` (atomically, after an fsync of its data) when
    both are on one filesystem; ``False`` (nothing done) when they are not."""
    fd = os.open(src, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    dst = os.path.abspath(dst)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as e:
        if e.errno == errno.EXDEV:
            return False
        raise
    return True


def walk_files(root: str) -> list[str]:
    """Relative POSIX paths of the files below ``root`` (sorted). Symlinks to files are
    followed; symlinked directories are not descended into."""
    out: list[str] = []
    for dirpath, _dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in files:
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            out.append(rel.replace(os.sep, "/"))
    out.sort()
    return out


def remove(path: str) -> None:
    """Remove a file, a symlink or a whole tree; a missing path is fine (including a path
    below a regular file, which cannot exist)."""
    if os.path.isdir(path) and not os.path.islink(path):
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(path)
