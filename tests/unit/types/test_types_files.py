"""File and Directory: blobs uploaded under the raw prefix, reused when remote, lazy downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from shim import idl
from shim.errors import TypeMismatchError
from shim.types import (
    Directory,
    File,
    TransferContext,
    literal_type_of,
    python_type_of,
    to_literal,
    to_python,
)

SINGLE = idl.BlobType.BlobDimensionality.SINGLE
MULTIPART = idl.BlobType.BlobDimensionality.MULTIPART


@pytest.fixture
def src_file(tmp_path: Path) -> Path:
    p = tmp_path / "src" / "data.csv"
    p.parent.mkdir()
    p.write_text("a,b\n1,2\n")
    return p


@pytest.fixture
def src_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    (d / "top.txt").write_text("top")
    (d / "sub" / "leaf.txt").write_text("leaf")
    return d


def test_types():
    assert literal_type_of(File) == idl.LiteralType(
        blob=idl.BlobType(format="", dimensionality=SINGLE)
    )
    assert literal_type_of(Directory) == idl.LiteralType(
        blob=idl.BlobType(format="", dimensionality=MULTIPART)
    )
    assert python_type_of(literal_type_of(File)) is File
    assert python_type_of(literal_type_of(Directory)) is Directory
    assert python_type_of(idl.LiteralType(blob=idl.BlobType(format="csv"))) is File


def _raw_hex(uri: str, prefix: str) -> str:
    assert uri.startswith(prefix + "/")
    return uri[len(prefix) + 1 :].split("/")[0]


def test_file_upload_to_raw_prefix(ctx, src_file):
    lit = to_literal(File(src_file), File, ctx)
    blob = lit.scalar.blob
    assert blob.metadata.type == idl.BlobType(format="", dimensionality=SINGLE)
    hexpart = _raw_hex(blob.uri, ctx.raw_output_prefix)
    assert len(hexpart) == 32 and int(hexpart, 16) >= 0
    assert blob.uri.endswith("/data.csv")
    assert Path(blob.uri).read_text() == "a,b\n1,2\n"
    back = to_python(lit, File, ctx)
    assert isinstance(back, File) and back.uri == blob.uri
    assert back.path == blob.uri and back.open("r").read() == "a,b\n1,2\n"


def test_pathlib_path_is_accepted_and_str_is_not(ctx, src_file):
    assert to_literal(src_file, File, ctx).scalar.blob.uri.endswith("/data.csv")
    with pytest.raises(TypeMismatchError) as e:
        to_literal(str(src_file), File, ctx, name="f")
    assert "'f': expected File, got str" in str(e.value)
    assert "File(...)" in str(e.value)


def test_missing_local_file(ctx, tmp_path):
    with pytest.raises(TypeMismatchError, match="not an existing file"):
        to_literal(File(tmp_path / "nope"), File, ctx, name="f")
    with pytest.raises(TypeMismatchError, match="not an existing directory"):
        to_literal(Directory(tmp_path / "nope"), Directory, ctx, name="d")


def test_remote_file_is_reused_without_copy(ctx):
    lit = to_literal(File("s3://bucket/key.csv"), File, ctx)
    assert lit.scalar.blob.uri == "s3://bucket/key.csv"
    assert not (Path(ctx.raw_output_prefix)).exists()


def test_deferred_upload(ctx, src_file):
    ctx.defer_uploads = True
    lit = to_literal(File(src_file), File, ctx)
    uri = lit.scalar.blob.uri
    assert not Path(uri).exists()
    assert len(ctx.pending) == 1
    assert (ctx.pending[0].src, ctx.pending[0].dst, ctx.pending[0].is_dir) == (
        str(src_file),
        uri,
        False,
    )
    ctx.flush()
    assert ctx.pending == [] and Path(uri).read_text() == "a,b\n1,2\n"


def test_no_raw_prefix_keeps_local_path(storage, tmp_path, src_file):
    local_ctx = TransferContext(storage=storage, scratch_dir=tmp_path / "s")
    lit = to_literal(File(src_file), File, local_ctx)
    assert lit.scalar.blob.uri == str(src_file)


def test_remote_file_downloads_lazily(remote_ctx, src_file):
    lit = to_literal(File(src_file), File, remote_ctx)
    uri = lit.scalar.blob.uri
    assert uri.startswith("memory://") and uri.endswith("/data.csv")
    back = to_python(lit, File, remote_ctx)
    assert back.is_remote and back._local is None
    assert back.open().read() == b"a,b\n1,2\n"  # streamed, still no download
    assert back._local is None
    local = back.download()
    assert local.is_relative_to(remote_ctx.scratch_dir) and local.name == "data.csv"
    assert Path(back).read_text() == "a,b\n1,2\n"  # os.PathLike
    assert back.download() == local  # once
    # re-encoding a remote handle reuses its uri
    assert to_literal(back, File, remote_ctx).scalar.blob.uri == uri


def test_directory_round_trip(ctx, src_dir):
    lit = to_literal(Directory(src_dir), Directory, ctx)
    blob = lit.scalar.blob
    assert blob.metadata.type.dimensionality == MULTIPART
    assert len(_raw_hex(blob.uri, ctx.raw_output_prefix)) == 32
    assert (Path(blob.uri) / "sub" / "leaf.txt").read_text() == "leaf"
    back = to_python(lit, Directory, ctx)
    assert [p.relative_to(back.path).as_posix() for p in back.files()] == [
        "sub/leaf.txt",
        "top.txt",
    ]


def test_directory_remote_and_deferred(remote_ctx, src_dir):
    remote_ctx.defer_uploads = True
    lit = to_literal(src_dir, Directory, remote_ctx)
    assert remote_ctx.pending[0].is_dir
    remote_ctx.flush()
    back = to_python(lit, Directory, remote_ctx)
    assert (Path(back.path) / "top.txt").read_text() == "top"
    assert to_literal(back, Directory, remote_ctx) == lit


def test_dimensionality_mismatch(ctx, src_dir, src_file):
    lit = to_literal(Directory(src_dir), Directory, ctx)
    with pytest.raises(TypeMismatchError, match="'x': expected File, got blob literal"):
        to_python(lit, File, ctx, name="x")
    with pytest.raises(TypeMismatchError):
        to_literal(File(src_file), Directory, ctx)
    with pytest.raises(TypeMismatchError):
        to_python(to_literal(1, int, ctx), File, ctx)


def test_file_identity():
    assert File("s3://b/k") == File("s3://b/k") and File("s3://b/k") != Directory("s3://b/k")
    assert repr(File("s3://b/k")) == "File('s3://b/k')"
    assert File("file:///tmp/x").path == "/tmp/x"
