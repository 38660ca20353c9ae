"""Fixtures for the type engine tests: transfer contexts over a local and an in-memory store."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shim.storage import Storage
from shim.types import TransferContext


@pytest.fixture
def storage() -> Storage:
    return Storage(retries=1, deadline=5.0)


@pytest.fixture
def ctx(tmp_path: Path, storage: Storage) -> TransferContext:
    """Uploads go to a local raw prefix under tmp_path."""
    return TransferContext(
        storage=storage, raw_output_prefix=str(tmp_path / "raw"), scratch_dir=tmp_path / "scratch"
    )


@pytest.fixture
def remote_ctx(tmp_path: Path, storage: Storage):
    """Uploads go to a unique prefix in fsspec's in-memory filesystem (a "remote" store)."""
    prefix = f"memory://shim-types-{uuid.uuid4().hex}"
    yield TransferContext(
        storage=storage, raw_output_prefix=prefix, scratch_dir=tmp_path / "scratch"
    )
    storage.delete(prefix)
