"""File and Directory: blobs (SINGLE / MULTIPART) in object storage.

A handle has a ``uri`` (a local path or a remote URL). A remote handle downloads lazily, into
the scratch directory of the TransferContext it was decoded with, the first time its local
``path`` is needed. Encoding a local handle uploads it to ``<raw>/<32 hex>/<basename>`` (a file)
or ``<raw>/<32 hex>`` (a directory's tree); a remote handle is reused as is, with no copy.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any

from shim import idl
from shim.types.engine import Handler, literal_mismatch, mismatch, register

if TYPE_CHECKING:
    from shim.types.context import TransferContext

SINGLE = idl.BlobType.BlobDimensionality.SINGLE
MULTIPART = idl.BlobType.BlobDimensionality.MULTIPART


def _is_local(uri: str) -> bool:
    from shim.storage import is_local

    return is_local(uri)


def _local_path(uri: str) -> str:
    from shim.storage import local_path

    return local_path(uri)


class _Blob(os.PathLike):
    """Common part of File and Directory."""

    _is_dir = False

    def __init__(self, path: str | os.PathLike[str], *, ctx: TransferContext | None = None):
        uri = os.fspath(path)
        if not uri:
            raise ValueError(f"{type(self).__name__} needs a path or URL")
        self._uri = uri
        self._ctx = ctx
        self._local: Path | None = Path(_local_path(uri)) if _is_local(uri) else None

    @property
    def uri(self) -> str:
        """Where the data lives: a local path or a remote URL."""
        return self._uri

    @property
    def is_remote(self) -> bool:
        """True when the data is not on the local file system."""
        return not _is_local(self._uri)

    @property
    def path(self) -> str:
        """The local path (downloaded on first use when the data is remote)."""
        return str(self.download())

    def download(self) -> Path:
        """Make the data local (once) and return its local path."""
        if self._local is None:
            ctx = self._context()
            target = ctx.new_scratch_dir()
            if self._is_dir:
                ctx.storage.get_dir(self._uri, target)
                local = target
            else:
                local = target / (_basename(self._uri) or "file")
                ctx.storage.get_file(self._uri, local)
            self._local = local
        return self._local

    def _context(self) -> TransferContext:
        if self._ctx is None:
            from shim.types.context import TransferContext

            self._ctx = TransferContext()
        return self._ctx

    def __fspath__(self) -> str:
        return self.path

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.uri == self.uri  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._uri))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._uri!r})"


def _basename(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


class File(_Blob):
    """A single file: ``File("data.csv")``, ``File("s3://bucket/key.csv")``."""

    def open(self, mode: str = "rb") -> IO[Any]:
        """Open the file. Remote reads stream through storage; writes need a local file."""
        if self._local is not None:
            return open(self._local, mode)
        return self._context().storage.open(self._uri, mode)


class Directory(_Blob):
    """A directory tree: ``Directory("out/")``, ``Directory("s3://bucket/prefix")``."""

    _is_dir = True

    def files(self) -> list[Path]:
        """All files below the directory (local paths, downloading first if remote), sorted."""
        root = self.download()
        return sorted(p for p in root.rglob("*") if p.is_file())


def _blob_literal(uri: str, dimensionality: int) -> idl.Literal:
    meta = idl.BlobMetadata(type=idl.BlobType(format="", dimensionality=dimensionality))
    return idl.Literal(scalar=idl.Scalar(blob=idl.Blob(metadata=meta, uri=uri)))


class _BlobHandler(Handler):
    cls: type[_Blob]
    dimensionality: int

    def claims(self, py_type):
        return py_type is self.cls

    def literal_type(self, py_type):
        return idl.LiteralType(blob=idl.BlobType(format="", dimensionality=self.dimensionality))

    def to_literal(self, value, py_type, ctx, name):
        if isinstance(value, PurePath):
            value = self.cls(value)
        if not isinstance(value, self.cls):
            detail = None
            if isinstance(value, str):
                detail = f"{value!r}: wrap the path as {self.cls.__name__}(...) or pathlib.Path"
            raise mismatch(name, py_type, value, detail)
        if value.is_remote:
            return _blob_literal(value.uri, self.dimensionality)
        local = value.download()
        ok = local.is_dir() if self.dimensionality == MULTIPART else local.is_file()
        if not ok:
            kind = "directory" if self.dimensionality == MULTIPART else "file"
            raise mismatch(name, py_type, value, f"{local} is not an existing {kind}")
        if not ctx.raw_output_prefix:
            return _blob_literal(str(local.absolute()), self.dimensionality)
        dst = ctx.new_raw_location()
        if self.dimensionality == SINGLE:
            from shim.storage import join

            dst = join(dst, local.name)
        ctx.upload(str(local), dst, is_dir=self.dimensionality == MULTIPART)
        return _blob_literal(dst, self.dimensionality)

    def to_python(self, lit, py_type, ctx, name):
        if lit.WhichOneof("value") != "scalar" or lit.scalar.WhichOneof("value") != "blob":
            raise literal_mismatch(name, py_type, lit)
        blob = lit.scalar.blob
        if blob.metadata.type.dimensionality != self.dimensionality:
            raise literal_mismatch(name, py_type, lit, "single file vs multipart directory")
        return self.cls(blob.uri, ctx=ctx)

    def guess(self, lt):
        if lt.WhichOneof("type") == "blob" and lt.blob.dimensionality == self.dimensionality:
            return self.cls
        return None


@register
class FileHandler(_BlobHandler):
    """File ↔ blob SINGLE, format ""."""

    cls, dimensionality, tag = File, SINGLE, "FlyteFilePath"


@register
class DirectoryHandler(_BlobHandler):
    """Directory ↔ blob MULTIPART, format ""."""

    cls, dimensionality, tag = Directory, MULTIPART, "FlyteDirectory"


__all__ = ["Directory", "File"]
