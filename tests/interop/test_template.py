"""shimkit -> flytekit: flytekit's models parse the TaskTemplate shimkit serializes.

shimkit serializes its SQLite3Task (and a task with every WIRE.md section 3 type in its
interface); a flytekit process parses the bytes with ``flytekit.models.task.TaskTemplate``,
guesses Python types for the interface with its TypeEngine and writes the model back, which
must keep every field shimkit set (nothing flytekit does not understand, nothing lost).
"""

from __future__ import annotations

import pytest
from shim_sqlite3 import SQLite3Config, SQLite3Task

from shim import Cache, Resources, Secret
from shim.task.serialize import to_bytes
from shim.task.template import SerializationContext
from tests.interop.cases import CASES
from tests.support import executors as ex
from tests.support.tasks import make_task

pytestmark = pytest.mark.interop

SCTX = SerializationContext(project="flytesnacks", domain="development", version="v42")


@pytest.fixture(scope="module")
def sqlite_task() -> SQLite3Task:
    return SQLite3Task(
        name="interop.top_customers",
        query_template="SELECT name, total FROM customers WHERE country = {{ .inputs.country }} "
        "ORDER BY total DESC LIMIT {{ .inputs.limit }}",
        inputs={"country": str, "limit": int},
        task_config=SQLite3Config(uri="s3://bucket/shop.db"),
        container_image="ghcr.io/example/shimkit-sqlite3:0.1.0",
        resources=Resources(cpu=("500m", "1"), memory="1Gi"),
        env_vars={"LOG_LEVEL": "debug"},
        secrets=[Secret(group="db", key="password", mount_requirement="env")],
        cache=Cache(behavior="auto", version="7"),
        retries=3,
        timeout=600,
        interruptible=True,
    )


@pytest.fixture(scope="module")
def parsed(fk, sqlite_task, tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("template") / "task.pb"
    path.write_bytes(to_bytes(sqlite_task, SCTX))
    return fk.json("fk_template.py", path)


def test_identity(parsed):
    assert parsed["id"] == {
        "resource_type": 1,
        "project": "flytesnacks",
        "domain": "development",
        "name": "interop.top_customers",
        "version": "v42",
    }
    assert parsed["type"] == "sqlite"
    assert parsed["task_type_version"] == 1


def test_custom(parsed, sqlite_task):
    assert parsed["custom"] == {
        "query_template": sqlite_task.query_template,
        "uri": "s3://bucket/shop.db",
        "compressed": False,
    }


def test_container(parsed):
    c = parsed["container"]
    assert c["image"] == "ghcr.io/example/shimkit-sqlite3:0.1.0"
    assert c["command"] == []
    args = c["args"]
    assert args[0] == "pyflyte-execute"
    for flag, var in (
        ("--inputs", "{{.input}}"),
        ("--output-prefix", "{{.outputPrefix}}"),
        ("--raw-output-data-prefix", "{{.rawOutputDataPrefix}}"),
    ):
        assert args[args.index(flag) + 1] == var
    assert args[-3:] == ["--", "{{.taskTemplatePath}}", "shim_sqlite3.executor.SQLite3TaskExecutor"]
    assert c["env"] == {"LOG_LEVEL": "debug"}
    # flyteidl ResourceName: CPU=1, MEMORY=3
    assert c["requests"] == {"1": "500m", "3": "1Gi"}
    assert c["limits"] == {"1": "1"}


def test_metadata(parsed):
    md = parsed["metadata"]
    assert md["retries"] == 3
    assert md["timeout"] == 600.0
    assert md["interruptible"] is True
    assert md["discoverable"] is True and md["discovery_version"] == "7"
    assert md["runtime_flavor"] == "shimkit"


def test_secrets(parsed):
    # flyteidl Secret.MountType: ANY=0, ENV_VAR=1, FILE=2
    assert parsed["secrets"] == [{"group": "db", "key": "password", "mount": 1}]


def test_interface_types_guessed_by_flytekit(parsed):
    assert parsed["inputs"] == {"country": "str", "limit": "int"}
    assert parsed["outputs"] == {"results": "StructuredDataset"}


def test_flytekit_model_loses_nothing(parsed):
    assert parsed["lost_in_roundtrip"] == []


def test_every_type_row_in_an_interface(fk, tmp_path):
    """A template whose interface has one input per WIRE.md section 3 row parses in flytekit,
    and flytekit's TypeEngine finds a Python type for each."""
    inputs = {name: case.py_type for name, case in CASES.items()}
    task = make_task(
        ex.NoOpExecutor,
        inputs=inputs,
        outputs={"out": CASES["dataclass"].py_type},
        name="interop.all_types",
    )
    path = tmp_path / "task.pb"
    path.write_bytes(to_bytes(task, SCTX))
    got = fk.json("fk_template.py", path)
    assert got["lost_in_roundtrip"] == []
    assert set(got["inputs"]) == set(CASES)
    simple = {k: got["inputs"][k] for k in ("int", "float", "str", "bool", "datetime", "timedelta")}
    assert simple == {
        "int": "int",
        "float": "float",
        "str": "str",
        "bool": "bool",
        "datetime": "datetime",
        "timedelta": "timedelta",
    }
    assert "FlyteFile" in got["inputs"]["file"]
    assert "FlyteDirectory" in got["inputs"]["directory"]
    assert got["inputs"]["dataframe"] == "StructuredDataset"
    assert got["outputs"]["out"] == "Record"  # rebuilt from the JSON schema in the metadata
