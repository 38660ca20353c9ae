"""TransferContext: where offloaded data (files, directories, dataframes) goes and comes from."""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shim.errors import ShimError

if TYPE_CHECKING:
    from shim.storage import Storage, Transfer


def _random_hex() -> str:
    return os.urandom(16).hex()


def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="shim-scratch-"))


@dataclass
class TransferContext:
    """State shared by the encoders and decoders of offloaded data during one run.

    - ``storage``: the :class:`shim.storage.Storage` that moves bytes (default: the process-wide
      ``default_storage()``).
    - ``raw_output_prefix``: where encoders upload (``<prefix>/<32 hex>/...``). When ``None``,
      encoders keep local paths as they are (no copy) and refuse nothing.
    - ``scratch_dir``: local working space for downloads and freshly written parquet files
      (default: a new temporary directory; its owner removes it).
    - ``defer_uploads``: encoders only append to ``pending``; :meth:`flush` runs them.
    - ``owned_dir``: files below it belong to this run and are discarded after it, so an upload
      from there to a local destination may rename them instead of copying (the entrypoint
      sets its work directory; ``None``: always copy).
    """

    storage: Storage = None  # type: ignore[assignment]
    raw_output_prefix: str | None = None
    scratch_dir: Path = field(default_factory=_scratch)
    defer_uploads: bool = False
    pending: list[Transfer] = field(default_factory=list)
    owned_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.storage is None:
            from shim.storage import default_storage

            self.storage = default_storage()
        self.scratch_dir = Path(self.scratch_dir)

    def new_raw_location(self) -> str:
        """A fresh location under the raw output prefix: ``<raw>/<32 random hex digits>``
        (like a uuid4's hex; ``os.urandom`` spares start-up the uuid module)."""
        if not self.raw_output_prefix:
            raise ShimError("no raw output prefix is set: cannot offload data")
        from shim.storage import join

        return join(self.raw_output_prefix, _random_hex())

    def new_scratch_dir(self) -> Path:
        """A fresh, empty directory inside ``scratch_dir``."""
        path = self.scratch_dir / _random_hex()
        path.mkdir(parents=True)
        return path

    def upload(self, src: str, dst: str, *, is_dir: bool = False) -> None:
        """Upload now, or queue the transfer when ``defer_uploads`` is set."""
        if self.defer_uploads:
            from shim.storage import Transfer

            self.pending.append(Transfer(src=src, dst=dst, is_dir=is_dir, move=self._owns(src)))
        elif is_dir:
            self.storage.put_dir(src, dst)
        else:
            self.storage.put_file(src, dst)

    def _owns(self, src: str) -> bool:
        if self.owned_dir is None:
            return False
        from shim.storage import is_local, local_path

        if not is_local(src):
            return False
        return Path(local_path(src)).resolve().is_relative_to(Path(self.owned_dir).resolve())

    def flush(self) -> None:
        """Run the pending uploads concurrently (``storage.transfer``), then forget them."""
        items = list(self.pending)
        if any(t.move for t in items) and _shared_sources(items):
            # the same data is uploaded more than once: copy, never consume a source
            from dataclasses import replace

            items = [replace(t, move=False) for t in items]
        if items:
            self.storage.transfer(items)
        self.pending.clear()


def _shared_sources(items: list[Transfer]) -> bool:
    """Whether a source of ``items`` is, or lies inside, another item's source."""
    from shim.storage import is_local, local_path

    paths = sorted(os.path.abspath(local_path(t.src)) if is_local(t.src) else t.src for t in items)
    return any(b == a or b.startswith(a.rstrip("/") + "/") for a, b in itertools.pairwise(paths))
