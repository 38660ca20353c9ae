"""Uploads of files a run owns are renamed into a local destination, never half-visible."""

from __future__ import annotations

import errno
import os

from shim.storage import Storage, Transfer
from shim.types import TransferContext


def make(path, data=b"payload"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_move_renames_local_file(tmp_path):
    src = make(tmp_path / "work" / "a.bin", b"x" * 1000)
    dst = tmp_path / "raw" / "k" / "a.bin"
    Storage().transfer([Transfer(str(src), str(dst), move=True)])
    assert dst.read_bytes() == b"x" * 1000 and not src.exists()


def test_move_of_directory_tree(tmp_path):
    for name in ("a", "sub/b", "sub/c"):
        make(tmp_path / "work" / "d" / name, name.encode())
    Storage().transfer(
        [
            Transfer(
                str(tmp_path / "work" / "d"), str(tmp_path / "raw" / "d"), is_dir=True, move=True
            )
        ]
    )
    assert (tmp_path / "raw" / "d" / "sub" / "c").read_bytes() == b"sub/c"
    assert not (tmp_path / "work" / "d" / "sub" / "c").exists()


def test_move_across_filesystems_falls_back_to_copy(tmp_path, monkeypatch):
    src = make(tmp_path / "a.bin")
    real = os.replace

    def cross_device(a, b):
        if a == str(src):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(a, b)

    monkeypatch.setattr(os, "replace", cross_device)
    Storage().transfer([Transfer(str(src), str(tmp_path / "out" / "a.bin"), move=True)])
    assert (tmp_path / "out" / "a.bin").read_bytes() == b"payload" and src.exists()


def test_copy_is_the_default(tmp_path):
    src = make(tmp_path / "a.bin")
    Storage().transfer([Transfer(str(src), str(tmp_path / "out.bin"))])
    assert src.exists() and (tmp_path / "out.bin").read_bytes() == b"payload"


def test_context_moves_only_what_it_owns(tmp_path):
    owned = make(tmp_path / "work" / "owned.bin", b"o")
    foreign = make(tmp_path / "user" / "keep.bin", b"k")
    ctx = TransferContext(
        raw_output_prefix=str(tmp_path / "raw"),
        scratch_dir=tmp_path / "s",
        defer_uploads=True,
        owned_dir=tmp_path / "work",
    )
    ctx.upload(str(owned), str(tmp_path / "raw" / "1" / "owned.bin"))
    ctx.upload(str(foreign), str(tmp_path / "raw" / "2" / "keep.bin"))
    assert [t.move for t in ctx.pending] == [True, False]
    ctx.flush()
    assert not owned.exists() and foreign.exists()
    assert (tmp_path / "raw" / "1" / "owned.bin").read_bytes() == b"o"
    assert (tmp_path / "raw" / "2" / "keep.bin").read_bytes() == b"k"


def test_context_copies_a_source_uploaded_twice(tmp_path):
    owned = make(tmp_path / "work" / "same.bin", b"s")
    ctx = TransferContext(
        raw_output_prefix=str(tmp_path / "raw"),
        scratch_dir=tmp_path / "s",
        defer_uploads=True,
        owned_dir=tmp_path / "work",
    )
    ctx.upload(str(owned), str(tmp_path / "raw" / "1" / "same.bin"))
    ctx.upload(str(owned), str(tmp_path / "raw" / "2" / "same.bin"))
    ctx.flush()
    for k in ("1", "2"):
        assert (tmp_path / "raw" / k / "same.bin").read_bytes() == b"s"
