"""ResourceMeta encoding, Resource, ConnectorRegistry and the `shim connectors` listing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from typing import Any

import pytest

from shim.connectors import (
    AsyncConnector,
    ConnectorNotFound,
    ConnectorRegistry,
    Resource,
    ResourceMeta,
    ResourceMetaError,
)
from shim.connectors.base import Phase


@dataclasses.dataclass
class Inner:
    host: str
    port: int = 5432


@dataclasses.dataclass
class Meta(ResourceMeta):
    job_id: str
    started: dt.datetime
    naive: dt.datetime | None = None
    inner: Inner | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    extra: dict[str, int] = dataclasses.field(default_factory=dict)


def test_round_trip_of_nested_optional_and_datetimes():
    m = Meta(
        "j-1",
        dt.datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        naive=dt.datetime(2026, 3, 1, 1, 2, 3),
        inner=Inner("db.internal"),
        tags=["a", "b"],
        extra={"x": 1},
    )
    back = Meta.decode(m.encode())
    assert back == m
    assert back.started.utcoffset() == dt.timedelta(hours=2)
    assert isinstance(back.inner, Inner) and back.inner.port == 5432
    assert Meta.decode(Meta("j", m.started).encode()).inner is None


def test_unknown_keys_from_a_newer_writer_are_ignored_and_missing_take_defaults():
    data = b'{"job_id": "j", "started": "2026-01-01T00:00:00+00:00", "added_later": [1, 2]}'
    back = Meta.decode(data)  # no "@v": flyte-sdk's plain JSON reads as version 1
    assert back.job_id == "j" and back.tags == [] and back.inner is None


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"not json at all", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"job_id": "j"}', "does not fit its fields"),
        (b'{"job_id": 5, "started": "2026-01-01T00:00:00"}', "does not fit its fields"),
        (b'{"@v": 2, "job_id": "j", "started": "2026-01-01T00:00:00"}', "format version 2"),
        (b'{"@v": "x", "job_id": "j"}', "not a positive int"),
    ],
)
def test_bad_resource_meta_is_a_specific_error(data, match):
    with pytest.raises(ResourceMetaError, match=match):
        Meta.decode(data)


def test_older_versions_are_upgraded():
    @dataclasses.dataclass
    class V2(ResourceMeta):
        meta_version = 2
        job: str

        @classmethod
        def upgrade(cls, doc: dict[str, Any], from_version: int) -> dict[str, Any]:
            assert from_version == 1
            return {"job": doc["job_id"]}

    assert V2.decode(b'{"@v": 1, "job_id": "old"}').job == "old"
    assert b'"@v":2' in V2("new").encode()


def test_resource_checks_its_fields():
    with pytest.raises(TypeError, match="bound by name"):
        Resource(Phase.SUCCEEDED, outputs=(1, 2))
    with pytest.raises(TypeError, match="Phase value"):
        Resource("SUCCEEDED")  # type: ignore[arg-type]
    r = Resource(Phase.RUNNING, log_links=[("console", "https://x/1"), {"name": "n", "uri": "u"}])
    assert [(link.name, link.uri) for link in r.task_logs()] == [
        ("console", "https://x/1"),
        ("n", "u"),
    ]


class _Conn(AsyncConnector[Meta]):
    name = "api-test"
    task_type_name = "api_test_type"
    metadata_type = Meta

    async def create(
        self, task_template, output_prefix, inputs=None, task_execution_metadata=None, **kw
    ):
        return Meta("x", dt.datetime.now(dt.UTC))

    async def get(self, resource_meta, **kw):
        return Resource(Phase.SUCCEEDED)

    async def delete(self, resource_meta, **kw):
        return None


def test_registry_keys_by_type_and_version_and_refuses_duplicates():
    try:
        ConnectorRegistry.register(_Conn)
        assert isinstance(ConnectorRegistry.get_connector("api_test_type"), _Conn)
        with pytest.raises(ValueError, match="already registered"):
            ConnectorRegistry.register(_Conn())
        replacement = _Conn()
        ConnectorRegistry.register(replacement, override=True)
        assert ConnectorRegistry.get_connector("api_test_type", 0) is replacement
        with pytest.raises(ConnectorNotFound, match="api_test_type v0"):
            ConnectorRegistry.get_connector("api_test_type", 1)
    finally:
        ConnectorRegistry.unregister("api_test_type")


def test_registry_refuses_a_connector_without_metadata_type():
    class NoMeta(_Conn):
        metadata_type = dict  # type: ignore[assignment]

    with pytest.raises(ValueError, match="metadata_type"):
        ConnectorRegistry.register(NoMeta())


def test_installed_connectors_are_found_through_entry_points():
    from shim_docker.connector import DockerJobConnector

    assert isinstance(ConnectorRegistry.get_connector("container_job"), DockerJobConnector)
    out = subprocess.run(
        [sys.executable, "-m", "shim", "connectors"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "container_job\tv0\tdocker\tshim_docker.connector.DockerJobConnector" in out.stdout


def test_imports_stay_lazy():
    """grpc loads only with the service; the container entrypoint never loads connectors."""
    code = (
        "import sys, shim.connectors.local, shim.idl, shim.runtime.entrypoint; "
        "assert 'grpc' not in sys.modules, 'grpc'; "
        "import shim.cli; shim.cli.execute_main(['--help']); "
        "assert 'grpc' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True)
    code = (
        "import sys, shim.runtime.entrypoint, shim.runtime.supervisor; "
        "assert not [m for m in sys.modules if m.startswith('shim.connectors')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_outputs_given_as_a_literal_map_are_matched_by_the_one_rule(tmp_path):
    """A LiteralMap without an Optional output is complete (that output is None, as for an
    executor's outputs); a missing required or an undeclared one is an OutputError naming it."""
    from shim import PythonCustomizedContainerTask, idl
    from shim.connectors.convert import typed_outputs
    from shim.errors import OutputError
    from shim.task.serialize import to_idl
    from shim.types import TransferContext
    from tests.support import executors as ex

    task = PythonCustomizedContainerTask(
        name="tests.connector_outputs",
        container_image="x",
        executor_type=ex.EchoExecutor,
        task_type="echo",
        task_config=None,
        outputs={"n": int, "note": str | None},
    )
    tt = to_idl(task)
    ctx = TransferContext(storage=None, raw_output_prefix=None, scratch_dir=tmp_path)
    given = idl.LiteralMap()
    given.literals["n"].scalar.primitive.integer = 3
    assert typed_outputs(tt, given, ctx) is given
    with pytest.raises(OutputError, match=r"missing outputs \['n'\]"):
        typed_outputs(tt, idl.LiteralMap(), ctx)
    given.literals["extra"].scalar.primitive.integer = 1
    with pytest.raises(OutputError, match=r"unexpected outputs \['extra'\]"):
        typed_outputs(tt, given, ctx)
