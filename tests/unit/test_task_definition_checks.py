"""Caught when a task is defined: config fields of the wrong type; local paths for containers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from shim_sqlite3 import SQLite3Config, SQLite3Task

from shim import SerializationContext
from shim.errors import TypeMismatchError
from shim.local.container import LocalPathError, run_task_in_container
from tests.support import executors as ex
from tests.support.tasks import make_task

if TYPE_CHECKING:
    from decimal import Decimal


@pytest.mark.parametrize(
    "config,field,expected,actual",
    [
        (SQLite3Config(uri=5), "SQLite3Config.uri", "str", "int"),
        (
            SQLite3Config(uri="s3://b/db", compressed="yes"),
            "SQLite3Config.compressed",
            "bool",
            "str",
        ),
        (SQLite3Config(uri=b"/db.sqlite"), "SQLite3Config.uri", "str", "bytes"),
    ],
)
def test_sqlite3_config_of_the_wrong_type(config, field, expected, actual):
    with pytest.raises(TypeMismatchError) as ei:
        SQLite3Task("t.bad_config", query_template="SELECT 1", task_config=config)
    e = ei.value
    assert (e.variable, e.expected, e.actual) == (field, expected, actual)
    assert str(e).startswith(f"task 't.bad_config': task_config '{field}': expected {expected}")


def test_any_dataclass_config_is_checked_field_by_field():
    with pytest.raises(
        TypeMismatchError, match=r"'PortConfig.port': expected int, got str \('5432'\)"
    ):
        make_task(ex.TypedConfigExecutor, task_config=ex.PortConfig(host="db", port="5432"))
    with pytest.raises(TypeMismatchError, match=r"'PortConfig\.port': expected int, got bool"):
        make_task(ex.TypedConfigExecutor, task_config=ex.PortConfig(host="db", port=True))
    # what the type engine accepts for inputs is accepted here: an int for a float
    t = make_task(ex.TypedConfigExecutor, task_config=ex.PortConfig(host="db", port=1, ratio=1))
    assert t.task_config.ratio == 1


@dataclass
class Nested:
    ports: list[int]
    opaque: object = None  # the type engine does not support it: not checked


def test_nested_values_are_named_and_unsupported_annotations_skipped():
    ok = make_task(ex.NoOpExecutor, task_config=Nested(ports=[1, 2], opaque=object()))
    assert ok.task_config.ports == [1, 2]
    with pytest.raises(TypeMismatchError, match=r"Nested.ports\[1\]'?: expected int, got str"):
        make_task(ex.NoOpExecutor, task_config=Nested(ports=[1, "2"]))


@dataclass
class PartlyHinted:
    port: int
    limit: Decimal | None = None  # Decimal is imported for type checkers only


def test_fields_are_checked_when_another_annotation_cannot_be_resolved():
    """Resolving all annotations at once fails on ``Decimal``; the other fields are still
    checked (before, the whole config went unchecked)."""
    with pytest.raises(TypeMismatchError, match=r"'PartlyHinted.port': expected int, got str"):
        make_task(ex.NoOpExecutor, task_config=PartlyHinted(port="5432"))
    assert make_task(ex.NoOpExecutor, task_config=PartlyHinted(port=5432)).task_config.port == 5432


# --- local paths -------------------------------------------------------------------------------


def sqlite_task(uri: str) -> SQLite3Task:
    return SQLite3Task("t.paths", query_template="SELECT 1", task_config=SQLite3Config(uri=uri))


def test_sqlite3_local_paths(tmp_path):
    sctx = SerializationContext()
    db = tmp_path / "shop.db"
    assert sqlite_task(str(db)).local_paths(sctx) == [str(db)]
    assert sqlite_task(db.as_uri()).local_paths(sctx) == [str(db)]
    assert sqlite_task("s3://bucket/shop.db").local_paths(sctx) == []
    assert make_task(ex.NoOpExecutor).local_paths(sctx) == []


@pytest.mark.parametrize("uri", ["shop.db", "data/shop.db", "./shop.db", "file:shop.db"])
def test_relative_sqlite3_uri_is_refused_with_the_absolute_form(uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="relative path") as ei:
        sqlite_task(uri)
    assert str(tmp_path) in str(ei.value)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root")
def test_unreadable_local_path_fails_before_the_container_starts(tmp_path):
    db = tmp_path / "secret.db"
    db.write_bytes(b"")
    db.chmod(0o600)
    # no engine is contacted: the check comes first (client=None would connect)
    with pytest.raises(LocalPathError, match=rf"cannot read.*chmod o\+r {db}"):
        run_task_in_container(
            "shimkit-none:never",
            ["true"],
            stage_dir=str(tmp_path / "stage"),
            read_only_paths=[str(db)],
            what="task 't'",
        )
    assert not (tmp_path / "stage").exists()


def test_relative_local_path_is_refused(tmp_path):
    with pytest.raises(LocalPathError, match="relative"):
        run_task_in_container(
            "shimkit-none:never",
            ["true"],
            stage_dir=str(tmp_path / "stage"),
            read_only_paths=["shop.db"],
        )


def test_local_paths_that_do_not_exist_here_are_left_to_the_image(tmp_path):
    from shim.local.container import _read_only_mounts

    db = tmp_path / "db.sqlite"
    db.write_bytes(b"")
    db.chmod(0o644)
    paths = [str(db), str(db), "/opt/inside/the/image.db", str(Path(tmp_path) / "x" / "..")]
    assert _read_only_mounts(paths, other_user=False, what="t") == [str(db), str(tmp_path)]
