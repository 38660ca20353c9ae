"""SQLAlchemyTask against a real PostgreSQL server: queries, parameters, read-only, timeouts,
and each failure classified by what a retry can fix — with the secret in no output."""

from __future__ import annotations

import datetime as dt
import enum
import os
import secrets
from pathlib import Path

import pytest

from shim import DataFrame, TaskFailedError, idl
from tests.executors.sqlalchemy.conftest import SECRET_ENV, make_task
from tests.support.execute import read_error, read_outputs, shim_execute, stage_task


@pytest.fixture(scope="module", autouse=True)
def _tables(postgres):
    postgres.psql(
        "DROP TABLE IF EXISTS items; "
        "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2), "
        "tags text[], placed timestamptz); "
        "INSERT INTO items SELECT i, 'item-' || i, i * 1.25, ARRAY['t' || (i % 3)], "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour' "
        "FROM generate_series(1, 50) i",
        user="shim_test",
    )


def rows(df: DataFrame) -> list[dict]:
    return df.to_arrow().to_pylist()


# --- queries ---------------------------------------------------------------------------------


def test_query_with_bound_parameters(pg_task):
    t = pg_task(
        "SELECT id, name FROM items WHERE id > {{ .inputs.after }} AND name <> {{ .inputs.skip }}"
        " ORDER BY id LIMIT {{ .inputs.n }}",
        {"after": int, "skip": str, "n": int},
    )
    assert rows(t(after=40, skip="item-42", n=3)) == [
        {"id": 41, "name": "item-41"},
        {"id": 43, "name": "item-43"},
        {"id": 44, "name": "item-44"},
    ]


def test_injection_attempts_are_inert_values(pg, pg_task):
    t = pg_task("SELECT count(*) AS n FROM items WHERE name = {{ .inputs.name }}", {"name": str})
    for attack in (
        "x' OR '1'='1",
        "x'; DROP TABLE items; --",
        "'); DELETE FROM items; --",
        "%(p_name)s",
        "$1",
        "{{ .inputs.name }}",
    ):
        assert rows(t(name=attack)) == [{"n": 0}]
    assert pg.psql("SELECT count(*) FROM items").strip() == "50"


def test_query_text_is_kept_exact(pg_task):
    """String literals with spaces, percent signs, a ``--`` comment and casts survive."""
    t = pg_task(
        "SELECT 'two  spaces' AS s, '100%' AS pct, -- a comment {{ .inputs.x }}\n"
        "       {{ .inputs.x }}::int + 1 AS y, $$it's {not} a placeholder$$ AS d",
        {"x": int},
    )
    assert rows(t(x=41)) == [
        {"s": "two  spaces", "pct": "100%", "y": 42, "d": "it's {not} a placeholder"}
    ]


def test_inputs_of_every_kind_bind(pg_task):
    class Color(enum.Enum):
        RED = "red"

    t = pg_task(
        "SELECT {{ .inputs.i }} AS i, {{ .inputs.f }} AS f, {{ .inputs.b }} AS b, "
        "{{ .inputs.s }} AS s, {{ .inputs.d }} AS d, {{ .inputs.c }} AS c, "
        "{{ .inputs.o }}::int AS o",
        {
            "i": int,
            "f": float,
            "b": bool,
            "s": str,
            "d": dt.datetime,
            "c": Color,
            "o": int | None,
        },
    )
    got = rows(
        t(i=7, f=0.5, b=True, s="é", d=dt.datetime(2024, 5, 6, 7, 8, 9), c=Color.RED, o=None)
    )
    assert got == [
        {
            "i": 7,
            "f": 0.5,
            "b": True,
            "s": "é",
            "d": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
            "c": "red",
            "o": None,
        }
    ]


def test_list_input_binds_as_an_array(pg_task):
    t = pg_task(
        "SELECT id FROM items WHERE id = ANY({{ .inputs.ids }}) ORDER BY id", {"ids": list[int]}
    )
    assert [r["id"] for r in rows(t(ids=[3, 1, 99]))] == [1, 3]


def test_empty_result_keeps_the_column_types(pg_task):
    df = pg_task("SELECT id, price, tags FROM items WHERE false")()
    table = df.to_arrow()
    assert table.num_rows == 0
    assert [str(f.type) for f in table.schema] == [
        "int32",
        "decimal128(8, 2)",
        "list<element: string>",
    ]


def test_repeated_column_names_are_made_unique(pg_task):
    assert rows(pg_task("SELECT 1 AS id, 2 AS id, 3 AS id_1")()) == [
        {"id": 1, "id_2": 2, "id_1": 3}
    ]


def test_over_the_unix_socket(pg, pg_task):
    t = pg_task("SELECT current_user AS u, inet_server_addr() AS a", uri=pg.socket_url())
    assert rows(t()) == [{"u": "shim_test", "a": None}]  # no address: a Unix socket


def test_connect_args_numbers_stay_ints(pg_task):
    """A protobuf Struct stores 3 as 3.0; libpq refuses "3.0" for connect_timeout."""
    t = pg_task("SELECT 1 AS one", connect_args={"connect_timeout": 3, "application_name": "shim"})
    assert rows(t()) == [{"one": 1}]


def test_flytekit_textual_mode_version_0(pg_task):
    t = pg_task(
        "SELECT id FROM items\n  WHERE name = '{{ .inputs.name }}'",
        {"name": str},
        task_type_version=0,
    )
    assert rows(t(name="item-7")) == [{"id": 7}]


def test_query_and_fetch_run_in_a_read_only_transaction(pg_task):
    t = pg_task(
        "SELECT current_setting('transaction_read_only') AS ro, "
        "current_setting('statement_timeout') AS st",
        timeout=dt.timedelta(seconds=90),
    )
    assert rows(t()) == [{"ro": "on", "st": "90s"}]


# --- writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO items VALUES (1000, 'x', 1, '{}', now()) RETURNING id",
        "WITH d AS (DELETE FROM items WHERE id = 1 RETURNING id) SELECT * FROM d",
        "SELECT id FROM items FOR UPDATE",
    ],
)
def test_writes_are_refused_on_the_default_read_only_path(pg, pg_task, query):
    with pytest.raises(TaskFailedError) as err:
        pg_task(query)()
    e = err.value
    assert (e.code, e.kind, e.origin) == ("USER:WriteRefused", "NON_RECOVERABLE", "USER")
    assert "read-only transaction" in str(e) and "read_only=False" in str(e)
    assert pg.psql("SELECT count(*), max(id) FROM items").strip() == "50|50"


def test_read_only_false_commits_the_write(pg, pg_task):
    pg.psql("CREATE TABLE IF NOT EXISTS audit (id int)", user="shim_test")
    t = pg_task(
        "INSERT INTO audit VALUES ({{ .inputs.v }}) RETURNING id", {"v": int}, read_only=False
    )
    assert rows(t(v=5)) == [{"id": 5}]
    assert pg.psql("SELECT id FROM audit").split() == ["5"]


# --- failures, each with its code and kind ------------------------------------------------------


def failure(task, **inputs) -> TaskFailedError:
    """The task's failure; ``str()`` of it is the one-line reason (and what follows it), with
    no trace: what a user sees."""
    with pytest.raises(TaskFailedError) as err:
        task(**inputs)
    e = err.value
    assert str(e) == f"{e.code} ({e.kind}, {e.origin}): {e.reason}"
    assert "Traceback" not in str(e) and "Traceback" in e.error_message
    return e


@pytest.mark.parametrize(
    "query, code, needle",
    [
        ("SELEC id FROM items", "USER:QuerySyntaxError", 'syntax error at or near "SELEC"'),
        ("SELECT * FROM no_such_table", "USER:UnknownTable", 'relation "no_such_table"'),
        ("SELECT nope FROM items", "USER:UnknownColumn", 'column "nope" does not exist'),
        ("SELECT 1/0 AS x", "USER:QueryError", "division by zero"),
    ],
)
def test_query_errors_are_not_recoverable(pg_task, query, code, needle):
    e = failure(pg_task(query))
    assert (e.code, e.kind, e.origin) == (code, "NON_RECOVERABLE", "USER")
    assert needle in str(e)
    assert "query: " + query.split(" ")[0] in str(e)


def test_statement_timeout_from_the_task_timeout(pg_task):
    e = failure(pg_task("SELECT pg_sleep(30) AS s", timeout=1))
    assert (e.code, e.kind) == ("USER:StatementTimeout", "NON_RECOVERABLE")
    assert "statement timeout" in str(e)


def test_several_statements_in_a_foreign_template(pg, tmp_path):
    """A template made elsewhere with two statements fails before reaching the database."""
    t = make_task(pg, "SELECT 1 AS a")
    s = stage_task(t, {}, str(tmp_path / "run"))
    pb = idl.TaskTemplate()
    pb.ParseFromString(Path(s.stage.template).read_bytes())
    pb.custom["query_template"] = "SELECT 1; DELETE FROM items"
    Path(s.stage.template).write_bytes(idl.serialize(pb))
    proc = shim_execute(["--no-supervise", *s.args], env={SECRET_ENV: pg.password})
    err = read_error(s.outputs)
    assert err is not None, proc.stderr
    assert err.code == "USER:QueryTemplateError" and "holds 2 SQL statements" in err.message
    assert pg.psql("SELECT count(*) FROM items").strip() == "50"


def test_statement_a_cursor_cannot_hold_runs_unnamed(pg_task):
    """SHOW is no query for DECLARE CURSOR: it runs on a client-side cursor."""
    assert rows(pg_task("SHOW server_version_num")())[0]["server_version_num"].isdigit()


def test_statement_without_rows_for_a_results_output(pg_task):
    e = failure(pg_task("CREATE TEMP TABLE scratch (a int)", read_only=False))
    assert (e.code, e.kind) == ("USER:QueryError", "NON_RECOVERABLE")
    assert "returns no rows" in str(e)


def test_nan_in_a_decimal_column_names_the_column(pg_task):
    e = failure(pg_task("SELECT 'NaN'::numeric(6,2) AS amount"))
    assert (e.code, e.kind) == ("USER:UnrepresentableValue", "NON_RECOVERABLE")
    assert "'amount'" in str(e) and "amount::text" in str(e)


def test_infinite_timestamp_is_unrepresentable(pg_task):
    e = failure(pg_task("SELECT 'infinity'::timestamp AS t"))
    assert (e.code, e.kind) == ("USER:UnrepresentableValue", "NON_RECOVERABLE")
    assert "infinity" in str(e) and "cast the column to text" in str(e)


def test_unknown_database(pg, pg_task):
    e = failure(pg_task("SELECT 1", uri=pg.url(database="no_such_db")))
    assert (e.code, e.kind) == ("USER:DatabaseNotFound", "NON_RECOVERABLE")
    assert 'database "no_such_db" does not exist' in str(e)


def test_unreachable_server_is_recoverable(pg, pg_task):
    from tests.fixtures.postgres import free_port

    e = failure(pg_task("SELECT 1", uri=pg.url(port=free_port())))
    assert (e.code, e.kind, e.origin) == ("USER:DatabaseUnavailable", "RECOVERABLE", "USER")
    assert "Connection refused" in str(e)
    assert "check that the server is running" in str(e)


def test_missing_socket_is_recoverable(pg_task, tmp_path):
    uri = f"postgresql+psycopg://shim_test@/shimdb?host={tmp_path}&port=5"
    e = failure(pg_task("SELECT 1", uri=uri))
    assert (e.code, e.kind) == ("USER:DatabaseUnavailable", "RECOVERABLE")
    assert "No such file or directory" in str(e)


def test_too_many_connections_is_recoverable(pg, pg_task):
    pg.psql(
        "DO $$ BEGIN CREATE ROLE limited LOGIN CONNECTION LIMIT 0 PASSWORD "
        f"'{pg.password}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        database="postgres",
    )
    e = failure(pg_task("SELECT 1", uri=pg.url(user="limited")))
    assert (e.code, e.kind) == ("USER:TooManyConnections", "RECOVERABLE")
    assert 'too many connections for role "limited"' in str(e)


def test_unknown_dialect_or_driver_is_a_config_error(pg_task):
    e = failure(pg_task("SELECT 1", uri="nosuchdb+nodriver://u@h/db"))
    assert (e.code, e.kind) == ("USER:BadConnectionConfig", "NON_RECOVERABLE")
    assert "nosuchdb+nodriver" in str(e)
    # the reason is the message itself, not prefixed by a class name other than the code's
    assert str(e).startswith(
        "USER:BadConnectionConfig (NON_RECOVERABLE, USER): no SQLAlchemy dialect for "
        "'nosuchdb+nodriver'"
    ), str(e)


def test_error_classes_are_named_after_their_codes():
    """``str(TaskFailedError)`` drops the ``<Type>: `` the error document's message starts
    with only when the type is the code's name (+ ``Error``): a class named otherwise would
    repeat itself in every reason (``AuthenticationError: cannot connect ...``)."""
    from shim_sqlalchemy import errors

    from shim.errors import ShimError

    classes = [getattr(errors, n) for n in errors.__all__]
    classes = [c for c in classes if isinstance(c, type) and issubclass(c, ShimError)]
    assert len(classes) == 15
    for cls in classes:
        assert cls.__name__ in (cls.code, cls.code + "Error"), cls


def test_bad_connect_argument_is_a_config_error(pg_task):
    e = failure(pg_task("SELECT 1", connect_args={"sslmode": "sometimes"}))
    assert (e.code, e.kind) == ("USER:BadConnectionConfig", "NON_RECOVERABLE")
    assert "sslmode" in str(e)


def test_missing_secret_names_where_it_looked(pg_task, monkeypatch, tmp_path):
    monkeypatch.delenv(SECRET_ENV)
    monkeypatch.setenv("FLYTE_SECRETS_DEFAULT_DIR", str(tmp_path / "secrets"))
    e = failure(pg_task("SELECT 1"))
    assert (e.code, e.kind) == ("USER:SecretNotFound", "NON_RECOVERABLE")
    assert SECRET_ENV in str(e) and str(tmp_path / "secrets" / "pg" / "password") in str(e)


def test_secret_from_a_mounted_file(pg, pg_task, monkeypatch, tmp_path):
    monkeypatch.delenv(SECRET_ENV)
    (tmp_path / "secrets" / "pg").mkdir(parents=True)
    (tmp_path / "secrets" / "pg" / "password").write_text(pg.password + "\n")
    monkeypatch.setenv("FLYTE_SECRETS_DEFAULT_DIR", str(tmp_path / "secrets"))
    assert rows(pg_task("SELECT 2 AS two")()) == [{"two": 2}]


# --- the wrong password: the secret in no output, whichever way the task runs -----------------


def assert_nowhere(secret: str, *texts: str, files: list[Path] = ()) -> None:
    for text in texts:
        assert secret not in text
    for f in files:
        assert secret.encode() not in f.read_bytes(), f


@pytest.mark.parametrize("supervise", [False, True])
def test_bad_password_through_the_entrypoint(pg, tmp_path, supervise):
    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    t = make_task(pg, "SELECT * FROM items WHERE id = {{ .inputs.id }}", {"id": int})
    s = stage_task(t, {"id": 1}, str(tmp_path / "run"))
    flag = "--supervise" if supervise else "--no-supervise"
    proc = shim_execute([flag, *s.args], env={SECRET_ENV: wrong})
    assert proc.returncode == 0, proc.stderr
    err = read_error(s.outputs)
    assert err is not None and read_outputs(s.outputs) is None
    assert err.code == "USER:AuthenticationFailed"
    assert err.kind == idl.ContainerError.NON_RECOVERABLE
    assert err.origin == idl.ErrorOrigin.Value("USER")
    assert 'password authentication failed for user "shim_test"' in err.message
    assert "secret_connect_args" in err.message
    error_files = [Path(u.removeprefix("file://")) for u in _files(s.outputs)]
    assert_nowhere(wrong, err.message, proc.stdout, proc.stderr, files=error_files)
    assert_nowhere(pg.password, err.message, proc.stdout, proc.stderr, files=error_files)


def test_bad_password_in_process(pg, pg_task, monkeypatch):
    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    monkeypatch.setenv(SECRET_ENV, wrong)
    e = failure(pg_task("SELECT 1"))
    assert (e.code, e.kind) == ("USER:AuthenticationFailed", "NON_RECOVERABLE")
    first = str(e).splitlines()[0]
    assert first.startswith(
        "USER:AuthenticationFailed (NON_RECOVERABLE, USER): cannot connect to "
        f"postgresql+psycopg://shim_test@127.0.0.1:{pg.port}/shimdb: "
    ), first
    assert first.endswith('password authentication failed for user "shim_test"'), first
    assert_nowhere(wrong, str(e), e.error_message, repr(e))
    assert_nowhere(pg.password, str(e), e.error_message, repr(e))


@pytest.mark.parametrize("where", ["user", "query"])
def test_password_in_a_flytekit_style_uri_is_never_shown(pg, pg_task, where):
    """flytekit lets a password sit in the URL (``user:pw@`` or ``?password=``); shimkit runs
    such a template but hides it, in a connection error and in a query error alike."""
    from shim_sqlalchemy.config import SQLAlchemyCustom
    from shim_sqlalchemy.executor import run_query

    def uri(password: str) -> str:
        if where == "user":
            return pg.url(password=password)
        return pg.url() + "?password=" + password

    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    cfg = SQLAlchemyCustom(query_template="SELECT 1", uri=uri(wrong))
    with pytest.raises(Exception) as err:
        run_query(cfg, {}, secrets={}, task_type_version=0, timeout=None, out_dir=None)
    assert type(err.value).__name__ == "AuthenticationFailedError"
    assert_nowhere(wrong, str(err.value))
    assert "***" in str(err.value)
    # the right password: it connects, and the failing query's message shows none either
    cfg = SQLAlchemyCustom(query_template="SELEC 1", uri=uri(pg.password))
    with pytest.raises(Exception) as err:
        run_query(cfg, {}, secrets={}, task_type_version=0, timeout=None, out_dir=None)
    assert type(err.value).__name__ == "QuerySyntaxError"
    assert_nowhere(pg.password, str(err.value))


def test_successful_run_logs_no_secret(pg, tmp_path):
    t = make_task(pg, "SELECT count(*) AS n FROM items")
    s = stage_task(t, {}, str(tmp_path / "run"))
    proc = shim_execute(["--no-supervise", *s.args], env={SECRET_ENV: pg.password})
    assert proc.returncode == 0 and read_error(s.outputs) is None, proc.stderr
    lit = read_outputs(s.outputs).literals["results"].scalar.structured_dataset
    assert DataFrame(lit.uri).to_arrow().to_pylist() == [{"n": 50}]
    files = [Path(u.removeprefix("file://")) for u in _files(str(tmp_path / "run"))]
    assert_nowhere(pg.password, proc.stdout, proc.stderr, files=files)


def _files(prefix: str) -> list[str]:
    root = Path(prefix.removeprefix("file://"))
    return [str(p) for p in root.rglob("*") if p.is_file()]


def test_executor_error_classes_are_recoverable_exactly_where_a_retry_helps():
    """The classification table (shim_sqlalchemy.errors) as the runtime reports it."""
    import psycopg
    from shim_sqlalchemy.errors import classify

    cases = {
        psycopg.errors.SerializationFailure("could not serialize access"): (
            "SerializationFailure",
            True,
        ),
        psycopg.errors.DeadlockDetected("deadlock detected"): ("SerializationFailure", True),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"): (
            "DatabaseUnavailable",
            True,
        ),
        psycopg.errors.DiskFull("could not extend file"): ("DatabaseUnavailable", True),
        psycopg.errors.InsufficientPrivilege("permission denied for table t"): (
            "PermissionDenied",
            False,
        ),
        psycopg.OperationalError("server closed the connection unexpectedly"): (
            "DatabaseUnavailable",
            True,
        ),
    }
    for exc, (code, recoverable) in cases.items():
        got = classify(exc, phase="query", where="db", sql="SELECT 1")
        assert (got.code, got.recoverable) == (code, recoverable), exc


# --- a task that dies does not leave its query running ------------------------------------------


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_killed_task_leaves_no_query_running(pg, tmp_path, signame):
    """SIGTERM and Ctrl-C cancel the query (and print no trace of SQLAlchemy's pool failing to
    reset a busy connection); after SIGKILL the server notices the task is gone
    (client_connection_check_interval, PostgreSQL 14+) and stops the query itself."""
    import signal
    import subprocess
    import sys
    import time
    import uuid

    version = int(pg.psql("SHOW server_version_num", database="postgres").strip())
    if signame == "SIGKILL" and version < 140000:
        pytest.skip("client_connection_check_interval needs PostgreSQL 14")
    app = f"shim-killed-{uuid.uuid4().hex[:12]}"
    t = make_task(pg, "SELECT pg_sleep(120) AS s", connect_args={"application_name": app})
    s = stage_task(t, {}, str(tmp_path / "run"))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    env[SECRET_ENV] = pg.password
    proc = subprocess.Popen(
        [sys.executable, "-m", "shim", "execute", "--no-supervise", *s.args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
        f"'{app}' AND state = 'active'"
    )

    def count() -> int:
        return int(pg.psql(running, database="postgres").strip())

    try:
        deadline = time.monotonic() + 60
        while count() == 0:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the query never started"
            time.sleep(0.2)
        proc.send_signal(getattr(signal, signame))
        _, stderr = proc.communicate(timeout=60)
        deadline = time.monotonic() + 20
        while count():
            assert time.monotonic() < deadline, f"the query still runs after {signame}"
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in stderr, stderr


# --- memory -----------------------------------------------------------------------------------


def _peak_through_entrypoint(
    pg, tmp_path, table: str, rows: int, order: str = "id"
) -> tuple[float, DataFrame]:
    """Peak RSS (MiB) of ``shim execute`` (through the fork/exec launcher) reading the first
    ``rows`` rows of ``table``, and its result."""
    import sys

    from tests.support.peak_rss import run_with_peak_rss

    env = dict(
        os.environ,
        PYTHONPATH=str(Path(__file__).resolve().parents[3]),
        **{SECRET_ENV: pg.password},
    )
    t = make_task(
        pg,
        f"SELECT * FROM {table} WHERE id >= {{{{ .inputs.lo }}}} ORDER BY {order} "
        "LIMIT {{ .inputs.n }}",
        {"lo": int, "n": int},
    )
    s = stage_task(t, {"lo": 0, "n": rows}, str(tmp_path / f"run-{table}-{rows}"))
    cmd = [sys.executable, "-m", "shim", "execute", "--no-supervise", *s.args]
    proc, peak_mib = run_with_peak_rss(cmd, workdir=tmp_path, env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert read_error(s.outputs) is None, proc.stderr
    lit = read_outputs(s.outputs).literals["results"].scalar.structured_dataset
    return peak_mib, DataFrame(lit.uri)


@pytest.fixture(scope="module")
def big(postgres):
    """A million rows of the usual column types."""
    postgres.psql(
        "DROP TABLE IF EXISTS big; CREATE TABLE big AS SELECT g::int8 AS id, g * 0.5 AS x, "
        "'name-' || g AS name, (ARRAY['a','b','c'])[g % 3 + 1] AS cat, "
        "CASE WHEN g % 3 > 0 THEN g % 7 END::int4 AS n, "
        "timestamptz '2024-01-01' + g * interval '1 second' AS ts, "
        "(g / 100.0)::numeric(12,2) AS amount FROM generate_series(0, 999999) g",
        user="shim_test",
    )
    return "big"


@pytest.mark.slow
def test_million_rows_peak_memory_through_entrypoint(pg, big, tmp_path):
    peak, df = _peak_through_entrypoint(pg, tmp_path, big, 1_000_000)
    table = df.to_arrow()
    assert table.num_rows == 1_000_000
    assert table.column("id").to_pylist()[-1] == 999_999
    # one row group and a bit: the streaming machinery all set up
    peak_20k, _ = _peak_through_entrypoint(pg, tmp_path, big, 20_000)
    print(f"peak RSS {peak:.0f} MiB for 1M rows, {peak_20k:.0f} MiB for 20k rows")
    assert 20 < peak < 200, f"peak RSS {peak:.0f} MiB"
    assert peak - peak_20k < 16, f"memory grows with the rows: {peak_20k:.0f} -> {peak:.0f} MiB"


@pytest.mark.slow
def test_wide_rows_peak_memory_through_entrypoint(pg, big, tmp_path):
    """Rows of 100 KB (200 MB in all) come a few at a time and in small row groups: 2000 rows
    per fetch held ~200 MB of Python strings at once, the 64 MiB row groups as much again
    (1.4 GiB of peak RSS for 500 MB)."""
    pg.psql(
        "DROP TABLE IF EXISTS wide; CREATE TABLE wide AS SELECT g::int8 AS id, "
        "repeat(md5(g::text), 3125) AS doc FROM generate_series(1, 2000) g",
        user="shim_test",
    )
    peak, df = _peak_through_entrypoint(pg, tmp_path, "wide", 2000)
    table = df.to_arrow()
    assert table.num_rows == 2000 and len(table.column("doc")[0].as_py()) == 100_000
    peak_narrow, _ = _peak_through_entrypoint(pg, tmp_path, big, 20_000)
    print(f"peak RSS {peak:.0f} MiB for 2000 rows of 100 KB, {peak_narrow:.0f} MiB for 20k small")
    assert peak - peak_narrow < 128, f"{peak_narrow:.0f} -> {peak:.0f} MiB"
