"""SQLAlchemyTask when it is defined: checks that need no database, and the template it makes."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToDict
from shim_sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask

from shim import Secret, to_bytes, to_idl

URI = "postgresql+psycopg://reader@db.example.com:5432/shop"
PASSWORD = Secret(group="shop-db", key="password")


def task(query: str = "SELECT 1 AS one", inputs: dict | None = None, **kw) -> SQLAlchemyTask:
    cfg = kw.pop("cfg", None) or SQLAlchemyConfig(
        uri=URI, secret_connect_args={"password": PASSWORD}
    )
    return SQLAlchemyTask(
        name="tests.sqla", query_template=query, inputs=inputs, task_config=cfg, **kw
    )


def test_template_contract():
    t = task(
        "SELECT * FROM orders WHERE id > {{ .inputs.after }}",
        {"after": int},
        cfg=SQLAlchemyConfig(
            uri=URI,
            connect_args={"sslmode": "require", "connect_timeout": 5},
            secret_connect_args={"password": PASSWORD},
        ),
        timeout=30,
    )
    tt = to_idl(t)
    assert tt.type == "sqlalchemy" and tt.task_type_version == 1
    custom = MessageToDict(tt.custom)
    assert custom == {
        "query_template": "SELECT * FROM orders WHERE id > {{ .inputs.after }}",
        "uri": URI,
        "connect_args": {"sslmode": "require", "connect_timeout": 5.0},
        "secret_connect_args": {"password": {"group": "shop-db", "key": "password"}},
        "read_only": True,
    }
    # the secret is declared so the platform injects it; only its name is anywhere
    assert [(s.group, s.key) for s in tt.security_context.secrets] == [("shop-db", "password")]
    assert list(tt.interface.outputs.variables) == ["results"]
    assert tt.metadata.timeout.seconds == 30
    assert tt.container.args[-1] == "shim_sqlalchemy.executor.SQLAlchemyTaskExecutor"
    assert tt.container.image.startswith("shimkit-sqlalchemy:")


def test_task_secrets_and_connect_secrets_are_both_declared_once():
    t = task(secrets=[Secret(group="other", key="token"), PASSWORD])
    got = [(s.group, s.key) for s in to_idl(t).security_context.secrets]
    assert got == [("other", "token"), ("shop-db", "password")]
    # an override of the task's secrets keeps the connection's
    t2 = t.override(secrets=[Secret(group="x", key="y")])
    got = [(s.group, s.key) for s in to_idl(t2).security_context.secrets]
    assert got == [("x", "y"), ("shop-db", "password")]


def test_serialization_is_deterministic():
    assert to_bytes(task()) == to_bytes(task())


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM t WHERE name = '{{ .inputs.name }}'",
        "SELECT * FROM t WHERE name LIKE '%{{ .inputs.name }}%'",
        "SELECT $$ {{ .inputs.name }} $$",
        "SELECT E'{{ .inputs.name }}'",
    ],
)
def test_quoted_placeholder_is_refused_when_defined(query):
    with pytest.raises(ValueError) as err:
        task(query, {"name": str})
    msg = str(err.value)
    assert msg.startswith("SQLAlchemyTask 'tests.sqla': query placeholder {{ .inputs.name }}")
    assert "must not be quoted" in msg and "'%' || {{ .inputs.name }} || '%'" in msg


def test_quoted_placeholder_is_allowed_in_flytekit_textual_mode():
    t = task(
        "SELECT * FROM t WHERE name = '{{ .inputs.name }}'", {"name": str}, task_type_version=0
    )
    assert to_idl(t).task_type_version == 0


@pytest.mark.parametrize(
    "query, inputs, needle",
    [
        ("SELECT {{ .inputs.x }}", {}, "has no input named 'x'"),
        ("SELECT 1", {"y": int}, "input 'y' is not used"),
        ("SELECT {{ .input.x }}", {}, "looks like a placeholder"),
        ("SELECT * FROM t WHERE a = $1", {}, "contains the SQL parameter '$1'"),
        ('SELECT "{{ .inputs.c }}" FROM t', {"c": str}, "quoted identifier"),
        ("  ", {}, "query_template is empty"),
        ("SELECT 1; DELETE FROM t", {}, "holds 2 SQL statements"),
    ],
)
def test_bad_templates_fail_at_definition(query, inputs, needle):
    with pytest.raises(ValueError, match=r"tests\.sqla") as err:
        task(query, inputs)
    assert needle in str(err.value)


def test_postgres_syntax_is_code_not_a_parameter():
    """``::`` casts and ``?``/``@`` operators are PostgreSQL code, accepted as written."""
    task("SELECT {{ .inputs.x }}::int, doc ? 'k', @ -5 FROM t", {"x": int})


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"uri": "postgresql+psycopg://reader:s3cret@db/shop"}, "contains a password"),
        ({"uri": "postgresql+psycopg://reader@db/shop?password=s3cret"}, "contains a password"),
        (
            {"uri": "postgresql+psycopg://reader@db/shop?sslmode=require&sslpassword=s3cret"},
            "contains a sslpassword",
        ),
        ({"uri": ""}, "non-empty string"),
        ({"uri": 42}, "non-empty string"),
        ({"uri": "db.example.com"}, "not a SQLAlchemy URL"),
        ({"uri": URI, "connect_args": {"password": "x"}}, "stored in the task template in clear"),
        ({"uri": URI, "connect_args": ["sslmode"]}, "must be a dict"),
        ({"uri": URI, "connect_args": {"port": object()}}, "cannot be stored in a task template"),
        ({"uri": URI, "connect_args": {"t": float("nan")}}, "cannot be stored"),
        ({"uri": URI, "secret_connect_args": {"password": "pw"}}, "must be a shim.Secret"),
        ({"uri": URI, "secret_connect_args": [PASSWORD]}, "must map connect arguments"),
        (
            {
                "uri": URI,
                "connect_args": {"user": "a"},
                "secret_connect_args": {"user": PASSWORD},
            },
            "in both connect_args and secret_connect_args",
        ),
        ({"uri": URI, "read_only": "no"}, "read_only must be a bool"),
    ],
)
def test_config_fields_of_the_wrong_type_fail_at_definition(kwargs, needle):
    with pytest.raises(ValueError, match="SQLAlchemyConfig") as err:
        SQLAlchemyConfig(**kwargs)
    assert needle in str(err.value)
    assert "s3cret" not in str(err.value)


def test_task_config_must_be_a_config():
    with pytest.raises(ValueError, match="task_config must be SQLAlchemyConfig"):
        SQLAlchemyTask(name="x", query_template="SELECT 1", task_config={"uri": URI})
