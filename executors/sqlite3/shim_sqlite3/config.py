"""The SQLite3 task's configuration, shared by the task (authoring) and the executor (runtime)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SQLite3Config:
    """Where the database is.

    ``uri`` is any storage URL (``s3://``, ``file://``, ...) or an absolute path: on this
    machine (``runner="container"`` mounts it read-only) or inside the image. A relative path
    is refused by ``SQLite3Task``.
    With ``compressed`` it is an archive (zip, tar, tar.gz, tar.bz2, tar.xz) holding exactly
    one file: the database.
    """

    uri: str
    compressed: bool = False


@dataclass(frozen=True)
class SQLite3Custom:
    """The template's ``custom`` for ``type = "sqlite"`` (WIRE.md section 6)."""

    query_template: str
    uri: str
    compressed: bool = False
