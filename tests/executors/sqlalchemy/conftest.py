"""Fixtures of the SQLAlchemy executor tests: the session's PostgreSQL server with a password
secret, and a factory of tasks that connect to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from shim_sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask

from shim import Secret
from tests.fixtures.postgres import PostgresServer

#: the secret the tasks of these tests read their password from
GROUP, KEY = "pg", "password"
SECRET_ENV = "_FSEC_PG_PASSWORD"


@pytest.fixture
def pg(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path) -> PostgresServer:
    """The server, with its password injected the way Flyte does (``_FSEC_PG_PASSWORD``) and a
    private local store."""
    monkeypatch.setenv(SECRET_ENV, postgres.password)
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    return postgres


def make_task(
    server: PostgresServer,
    query: str,
    inputs: dict[str, Any] | None = None,
    *,
    uri: str | None = None,
    name: str = "tests.pg",
    connect_args: dict[str, Any] | None = None,
    read_only: bool = True,
    **kwargs: Any,
) -> SQLAlchemyTask:
    return SQLAlchemyTask(
        name=name,
        query_template=query,
        inputs=inputs or {},
        task_config=SQLAlchemyConfig(
            uri=uri or server.url(),
            connect_args=connect_args,
            secret_connect_args={"password": Secret(group=GROUP, key=KEY)},
            read_only=read_only,
        ),
        **kwargs,
    )


@pytest.fixture
def pg_task(pg: PostgresServer) -> Callable[..., SQLAlchemyTask]:
    """``pg_task(query, inputs, **kw)``: a task on the test server, password from the secret."""

    def factory(query: str, inputs: dict[str, Any] | None = None, **kw: Any) -> SQLAlchemyTask:
        return make_task(pg, query, inputs, **kw)

    return factory
