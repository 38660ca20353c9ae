"""A SQLAlchemyTask run inside the sqlalchemy image (built FROM shimkit-base) against the
test PostgreSQL server on 127.0.0.1 (the local container runner uses the host network), with
its password injected as Flyte does (``_FSEC_<GROUP>_<KEY>``)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from shim import TaskFailedError
from tests.executors.sqlalchemy.conftest import SECRET_ENV, make_task
from tests.executors.sqlalchemy.user_cli import CASES as CLI_CASES
from tests.executors.sqlalchemy.user_cli import prepare, run_case

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def sqlalchemy_image(base_image: str, docker_client: Any) -> str:
    from tests.container.conftest import _build

    return _build("sqlalchemy", docker_client)


@pytest.fixture(autouse=True)
def _env(postgres, monkeypatch, tmp_path):
    monkeypatch.setenv(SECRET_ENV, postgres.password)
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    postgres.psql(
        "CREATE TABLE IF NOT EXISTS c_items AS SELECT g AS id, 'n' || g AS name, "
        "(g * 1.5)::numeric(6,1) AS price FROM generate_series(1, 100) g",
        user="shim_test",
    )


def test_image_is_built_from_the_base_image(sqlalchemy_image, base_image, docker_client):
    from shim.images import IMAGES

    assert IMAGES["sqlalchemy"].base == "base"
    mine = docker_client.images.get(sqlalchemy_image)
    base = docker_client.images.get(base_image)
    layers = base.attrs["RootFS"]["Layers"]
    assert mine.attrs["RootFS"]["Layers"][: len(layers)] == layers  # FROM shimkit-base
    out = docker_client.containers.run(
        sqlalchemy_image, ["shim", "executors"], remove=True, network_mode="none"
    ).decode()
    assert "sqlalchemy\tshim_sqlalchemy.executor.SQLAlchemyTaskExecutor" in out
    assert "flytekitplugins.sqlalchemy.task.SQLAlchemyTaskExecutor" in out


def test_query_in_container(postgres, sqlalchemy_image, docker_client):
    t = make_task(
        postgres,
        "SELECT id, name, price FROM c_items WHERE id > {{ .inputs.after }} ORDER BY id",
        {"after": int},
        container_image=sqlalchemy_image,
    )
    table = t(after=97, runner="container").to_arrow()
    assert table.to_pylist() == [
        {"id": 98, "name": "n98", "price": table.column("price")[0].as_py()},
        {"id": 99, "name": "n99", "price": table.column("price")[1].as_py()},
        {"id": 100, "name": "n100", "price": table.column("price")[2].as_py()},
    ]
    assert str(table.schema.field("price").type) == "decimal128(6, 1)"
    assert [str(v) for v in table.column("price").to_pylist()] == ["147.0", "148.5", "150.0"]


def test_bad_password_in_container(postgres, sqlalchemy_image, docker_client, monkeypatch):
    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    monkeypatch.setenv(SECRET_ENV, wrong)
    t = make_task(postgres, "SELECT 1 AS one", container_image=sqlalchemy_image)
    with pytest.raises(TaskFailedError) as err:
        t(runner="container")
    e = err.value
    assert (e.code, e.kind) == ("USER:AuthenticationFailed", "NON_RECOVERABLE")
    first = str(e).splitlines()[0]
    assert first.startswith(
        "USER:AuthenticationFailed (NON_RECOVERABLE, USER): cannot connect to "
        f"postgresql+psycopg://shim_test@127.0.0.1:{postgres.port}/shimdb: "
    ), first
    assert first.endswith('password authentication failed for user "shim_test"'), first
    assert "Traceback" not in str(e)
    for secret in (wrong, postgres.password):
        assert secret not in e.error_message and secret not in str(e) and secret not in repr(e)


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.task for c in CLI_CASES])
def test_failure_through_shim_run_in_the_image(postgres, sqlalchemy_image, tmp_path, case):
    """Every failure class through ``shim run --runner container`` in the sqlalchemy image:
    one line naming the cause, the right code and kind, no trace, no secret anywhere."""
    module = prepare(postgres, tmp_path / "tasks")
    run_case(case, postgres, module, tmp_path / "store", runner="container", image=sqlalchemy_image)
