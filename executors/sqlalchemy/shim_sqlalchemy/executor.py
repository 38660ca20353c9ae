"""``SQLAlchemyTaskExecutor``: what the sqlalchemy image runs for ``type = "sqlalchemy"``.

One query, one transaction, one connection (no pool):

1. the connect arguments are the template's ``connect_args`` plus ``secret_connect_args``
   resolved through ``shim.current_context().secrets`` (``_FSEC_<GROUP>_<KEY>`` or
   ``/etc/secrets/<group>/<key>``); whole numbers that a protobuf Struct turned into floats
   (``5.0``) are ints again; for libpq drivers ``connect_timeout`` defaults to 10 seconds;
2. the query is rendered: ``task_type_version`` 1 binds the inputs as parameters in the
   driver's own parameter style; version 0 (flytekit's templates) pastes them into the text as
   flytekit does;
3. the transaction is read-only unless the template says ``read_only: false``: PostgreSQL
   ``BEGIN READ ONLY``, MySQL/MariaDB ``SET TRANSACTION READ ONLY``, SQLite ``PRAGMA
   query_only``; on other databases only the final rollback guards (give the task a role that
   cannot write). A read-only transaction is always rolled back; ``read_only: false`` commits;
4. the task's ``timeout`` becomes the statement timeout (PostgreSQL ``statement_timeout`` for
   the declare and each fetch, MySQL ``max_execution_time``) and bounds the whole fetch loop;
   PostgreSQL's transaction also fixes how values are sent as text (ISO dates, ``postgres``
   intervals, floats with every digit: :data:`POSTGRES_OUTPUT_SETTINGS`), whatever the role
   or the database sets, so that no value is misread or rounded;
5. rows come through a server-side cursor (PostgreSQL: ``DECLARE ... CURSOR``, fetched in
   chunks of about ``FETCH_BYTES``, at most ``FETCH_ROWS`` rows; other databases:
   SQLAlchemy's ``stream_results``) and are written to parquet as they arrive
   (:mod:`shim_sqlalchemy.result`), so memory stays flat however many and however wide.

Failures are classified by :func:`shim_sqlalchemy.errors.classify`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import enum
import time
import uuid
from pathlib import Path
from typing import Any

from shim import DataFrame, ShimTaskExecutor, TaskTemplateModel
from shim.runtime import current_context
from shim.sql.errors import quoted_sql
from shim_sqlalchemy.config import SECRET_ARGS, SQLAlchemyCustom
from shim_sqlalchemy.errors import (
    BadConnectionConfigError,
    QueryError,
    QueryTemplateError,
    StatementTimeoutError,
    classify,
)

__all__ = ["FETCH_ROWS", "SQLAlchemyTaskExecutor", "to_bind_value"]

#: rows per fetch from the server cursor, at most
FETCH_ROWS = 2_000
#: rows of the first fetch; later fetches hold about ``FETCH_BYTES`` of data (as Arrow
#: arrays), so that rows of 100 KB come 80 at a time, not 2000 (200 MB as Python objects)
FIRST_FETCH_ROWS = 100
FETCH_BYTES = 8 * 1024 * 1024
#: rows per parquet row group (parquet's dictionary encoders hold a row group's values: larger
#: groups cost peak memory, ~40 MiB more at 65536 rows)
BATCH_ROWS = 16_384
#: seconds libpq waits for a connection when the task does not say (its own default: forever)
DEFAULT_CONNECT_TIMEOUT = 10
#: PostgreSQL settings of the task's transaction (``SET LOCAL``) that fix how values are sent
#: as text, whatever the role or database sets: the loaders parse ISO dates and timestamps
#: (psycopg cannot parse the other DateStyles; only the output part is set, the input order
#: DMY/MDY is kept), intervals in the ``postgres`` style, and floats with all their digits
#: (``extra_float_digits`` <= 0 rounds them).
#: PostgreSQL 14+: how often the server checks, while the query runs, that the task is still
#: there; a task killed outright (SIGKILL, an OOM kill, a node lost) would otherwise leave its
#: query running to the end. (A task stopped by SIGTERM or Ctrl-C cancels it itself.)
CLIENT_CHECK_INTERVAL = "5s"
POSTGRES_OUTPUT_SETTINGS = {
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
}

_BINDABLE = (
    str,
    int,
    float,
    bool,
    bytes,
    decimal.Decimal,
    _dt.datetime,
    _dt.date,
    _dt.time,
    _dt.timedelta,
    uuid.UUID,
)


def to_bind_value(value: Any, *, name: str = "") -> Any:
    """An input value as the driver binds it: ``None``, str, int, float, bool, bytes,
    Decimal, datetime/date/time/timedelta, UUID as they are; an ``Enum`` as its value; a list
    of those as a list (a PostgreSQL array: ``WHERE id = ANY({{ .inputs.ids }})``). Anything
    else raises :class:`TypeError`."""
    if isinstance(value, enum.Enum):
        return to_bind_value(value.value, name=name)
    if value is None or isinstance(value, _BINDABLE):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [to_bind_value(v, name=name) for v in value]
    where = f"input {name!r}" if name else "value"
    raise TypeError(
        f"{where}: a value of type {type(value).__module__}.{type(value).__qualname__} cannot "
        "be bound as a SQL parameter; supported types are str, int, float, bool, None, bytes, "
        "datetime, date, time, timedelta, Decimal, UUID, Enum and lists of them"
    )


def _plain_args(args: dict[str, Any]) -> dict[str, Any]:
    """connect_args from a protobuf Struct: whole floats back to ints (``5432.0`` -> 5432)."""

    def fix(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return {k: fix(v) for k, v in args.items()}


class SQLAlchemyTaskExecutor(ShimTaskExecutor):
    """Runs the template's query on the database its ``uri`` names; see the module docstring."""

    config_type = SQLAlchemyCustom

    def execute_from_model(self, tt: TaskTemplateModel, **inputs: Any) -> DataFrame | None:
        cfg: SQLAlchemyCustom = tt.task_config
        ctx = current_context()
        secrets: dict[str, str] = {}
        for arg, ref in (cfg.secret_connect_args or {}).items():
            secrets[arg] = ctx.secrets.get(ref.group, ref.key)
        timeout = None
        if tt.pb.metadata.HasField("timeout"):
            timeout = tt.pb.metadata.timeout.ToTimedelta().total_seconds() or None
        work = Path(ctx.working_dir) / "sqlalchemy"
        work.mkdir(parents=True, exist_ok=True)
        out = work / "results"
        out.mkdir(exist_ok=True)
        want_rows = bool(tt.interface.outputs)
        run_query(
            cfg,
            inputs,
            secrets=secrets,
            task_type_version=tt.task_type_version,
            timeout=timeout,
            out_dir=out if want_rows else None,
        )
        return DataFrame(str(out)) if want_rows else None


def run_query(
    cfg: SQLAlchemyCustom,
    inputs: dict[str, Any],
    *,
    secrets: dict[str, str],
    task_type_version: int,
    timeout: float | None,
    out_dir: Path | None,
    fetch_rows: int = FETCH_ROWS,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Run the task's query; write its rows to ``out_dir/00000`` (parquet) unless
    ``out_dir`` is None. Returns the number of rows written."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from shim.runtime.redaction import Redactor
    from shim.sql import render_parameterized, render_textual, statement_count, syntax_for

    try:
        url = make_url(cfg.uri)
    except (sa.exc.ArgumentError, ValueError) as e:
        raise BadConnectionConfigError(
            f"the task's uri is not a SQLAlchemy URL ({e}); write "
            "dialect+driver://user@host:port/database"
        ) from None
    # a password in the URL (flytekit's templates allow it) is never shown: the user part's
    # as SQLAlchemy hides it, one in the query string (?password=...) likewise
    in_query = {k: v for k, v in url.query.items() if k in SECRET_ARGS}
    shown_url = url.update_query_dict(dict.fromkeys(in_query, "HIDDEN")) if in_query else url
    where = shown_url.render_as_string(hide_password=True).replace("=HIDDEN", "=***")
    hidden = [x for v in in_query.values() for x in ((v,) if isinstance(v, str) else v)]
    # the runtime's redactor (every form of each value: escaped, URL-encoded, line by line),
    # for the secrets this run resolved and a password the URL carries
    redact = Redactor([*secrets.values(), url.password or "", *hidden])
    connect_args = _plain_args(dict(cfg.connect_args or {}))
    connect_args.update(secrets)
    try:
        url.get_dialect()
    except (sa.exc.NoSuchModuleError, ImportError) as e:
        raise BadConnectionConfigError(
            f"no SQLAlchemy dialect for {url.drivername!r} in this image ({e}); use an image "
            "that installs the dialect and its driver, or another URL scheme"
        ) from None
    libpq = url.get_driver_name() in ("psycopg", "psycopg2") and url.get_backend_name() == (
        "postgresql"
    )
    if libpq and "connect_timeout" not in connect_args and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
    try:
        engine = sa.create_engine(
            url, connect_args=connect_args, poolclass=sa.pool.NullPool, hide_parameters=True
        )
    except ImportError as e:
        raise BadConnectionConfigError(
            f"the driver for {where} is not installed in this image ({e}); install it or "
            "pick an installed driver in the URL scheme"
        ) from None
    except (sa.exc.ArgumentError, TypeError, ValueError) as e:
        raise BadConnectionConfigError(
            redact(
                f"cannot set up a connection to {where}: {e}; check the task's uri and connect_args"
            )
        ) from None
    dialect = engine.dialect
    backend = dialect.name
    syntax = syntax_for(backend)
    try:
        if task_type_version == 0:
            sql = render_textual(cfg.query_template, inputs)
            if dialect.paramstyle in ("pyformat", "format"):
                sql = sql.replace("%", "%%")  # as SQLAlchemy's text() does for these drivers
            params: Any = {} if dialect.paramstyle in ("named", "pyformat") else ()
        else:
            sql, params = render_parameterized(
                cfg.query_template,
                inputs,
                syntax=syntax,
                paramstyle=dialect.paramstyle,
                convert=to_bind_value,
            )
    except (ValueError, TypeError) as e:
        raise QueryTemplateError(str(e)) from None
    n = statement_count(sql, syntax)
    if n > 1:
        raise QueryTemplateError(
            f"the query holds {n} SQL statements; a task runs exactly one (remove the extra "
            f"statements or make several tasks)\nquery: {quoted_sql(sql)}"
        )
    if isinstance(params, list):
        params = tuple(params)  # SQLAlchemy reads a list as many parameter sets
    shown = sql  # what the database receives, for messages
    try:
        return _run(
            engine,
            sql,
            params,
            read_only=cfg.read_only,
            timeout=timeout,
            out_dir=out_dir,
            fetch_rows=fetch_rows,
            batch_rows=batch_rows,
            where=where,
            shown=shown,
            redact=redact,
        )
    finally:
        engine.dispose()


def _run(
    engine: Any,
    sql: str,
    params: Any,
    *,
    read_only: bool,
    timeout: float | None,
    out_dir: Path | None,
    fetch_rows: int,
    batch_rows: int,
    where: str,
    shown: str,
    redact: Any,
) -> int:
    from shim.sql import first_keyword, syntax_for

    backend = engine.dialect.name
    driver = engine.dialect.driver
    deadline = time.monotonic() + timeout if timeout else None

    def failure(exc: BaseException, phase: str) -> Exception:
        return classify(
            exc, phase=phase, where=where, sql=shown, read_only=read_only, redact=redact
        )

    try:
        conn = engine.connect()
    except Exception as e:
        raise failure(e, "connect") from None
    txn = None
    done = False
    try:
        try:
            if read_only and backend == "postgresql":  # BEGIN READ ONLY
                conn = conn.execution_options(postgresql_readonly=True)
            txn = conn.begin()
            if read_only and backend in ("mysql", "mariadb"):  # before the first statement
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            elif read_only and backend == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = ON")
            ms = max(1, int(timeout * 1000)) if timeout else None
            if backend == "postgresql":  # one round trip; SET LOCAL ends with the transaction
                settings = dict(POSTGRES_OUTPUT_SETTINGS)
                if ms is not None:
                    settings["statement_timeout"] = str(ms)
                if (engine.dialect.server_version_info or (0,)) >= (14,):
                    settings["client_connection_check_interval"] = CLIENT_CHECK_INTERVAL
                calls = ", ".join(f"set_config('{k}', '{v}', true)" for k, v in settings.items())
                conn.exec_driver_sql(f"SELECT {calls}").close()
            elif ms is not None and backend in ("mysql", "mariadb"):
                conn.exec_driver_sql(f"SET SESSION max_execution_time = {ms}")
        except Exception as e:
            raise failure(e, "connect" if txn is None else "query") from None
        keyword = first_keyword(sql, syntax_for(backend))
        try:
            if backend == "postgresql" and driver == "psycopg":
                n = _stream_psycopg(
                    conn, sql, params, keyword, read_only, out_dir, fetch_rows, batch_rows, deadline
                )
            else:
                n = _stream_generic(conn, sql, params, out_dir, fetch_rows, batch_rows, deadline)
        except StatementTimeoutError as e:
            raise StatementTimeoutError(f"{e}\nquery: {quoted_sql(shown)}") from None
        except QueryError:
            raise
        except Exception as e:
            if _is_db_error(e):
                raise failure(e, "query") from None
            raise
        try:
            if read_only:
                txn.rollback()
            else:
                txn.commit()
        except Exception as e:
            raise failure(e, "query") from None
        done = True
        return n
    finally:
        if done:
            conn.close()
        else:
            _abandon(conn)


def _abandon(conn: Any) -> None:
    """Let go of the connection after a failure, which may have struck in the middle of a
    command (SIGTERM, Ctrl-C, the deadline): the server is asked to cancel what it still runs,
    and the connection is closed without the pool's reset (a ROLLBACK on a busy connection
    fails, and SQLAlchemy logs that with a traceback). Closing it ends the transaction."""
    with contextlib.suppress(Exception):
        raw = conn.connection.dbapi_connection
        info = getattr(raw, "info", None)  # psycopg 3
        if info is not None and info.transaction_status.name == "ACTIVE":
            cancel = getattr(raw, "cancel_safe", None)
            if cancel is not None:
                cancel(timeout=5.0)
            else:
                raw.cancel()
    with contextlib.suppress(Exception):
        conn.invalidate()
    with contextlib.suppress(Exception):
        conn.close()


def _is_db_error(e: BaseException) -> bool:
    """A DB-API (or SQLAlchemy-wrapped DB-API) error, as opposed to a bug or an OS error."""
    import sqlalchemy as sa

    if isinstance(e, sa.exc.DBAPIError | sa.exc.StatementError):
        return True
    mod = type(e).__module__.split(".", 1)[0]
    return mod in ("psycopg", "psycopg2", "pymysql", "MySQLdb", "sqlite3", "pg8000", "asyncpg")


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise StatementTimeoutError(
            "the query ran longer than the task's timeout (canceling statement due to "
            "statement timeout while fetching rows); make it faster or raise the task's timeout"
        )


def _no_rows_error() -> QueryError:
    return QueryError(
        "the statement returns no rows; a task with a results output runs one statement that "
        "reads, such as SELECT, WITH or VALUES (or a write with RETURNING when read_only=False)"
    )


def _stream_psycopg(
    conn: Any,
    sql: str,
    params: Any,
    keyword: str,
    read_only: bool,
    out_dir: Path | None,
    fetch_rows: int,
    batch_rows: int,
    deadline: float | None,
) -> int:
    """PostgreSQL through psycopg 3: a server-side cursor (``DECLARE``), typed columns."""
    from psycopg.types.string import TextLoader

    from shim_sqlalchemy.result import (
        RESULT_FILE,
        ParquetSink,
        postgres_columns,
        text_loaded_oids,
        unique_names,
    )

    raw = conn.connection.dbapi_connection
    # DECLARE CURSOR takes only a query: SELECT, VALUES, TABLE, and WITH ... SELECT (a WITH
    # holding INSERT/UPDATE/DELETE is refused there; on the writable path it runs unnamed)
    server_side = keyword in ("select", "values", "table") or (keyword == "with" and read_only)
    cur = raw.cursor(name="shim_result") if server_side and out_dir is not None else raw.cursor()
    for oid in text_loaded_oids(cur.adapters.types):
        cur.adapters.register_loader(oid, TextLoader)
    try:
        cur.execute(sql, params)
        if out_dir is None:
            return 0
        if cur.description is None:
            raise _no_rows_error()
        names = unique_names([d.name for d in cur.description])
        columns = postgres_columns(cur.description, cur.adapters.types, names)
        sink = ParquetSink(out_dir / RESULT_FILE, columns, batch_rows)
        return _drain(cur.fetchmany, sink, fetch_rows, deadline)
    finally:
        with contextlib.suppress(Exception):
            cur.close()


def _stream_generic(
    conn: Any,
    sql: str,
    params: Any,
    out_dir: Path | None,
    fetch_rows: int,
    batch_rows: int,
    deadline: float | None,
) -> int:
    """Any other dialect: SQLAlchemy's ``stream_results``; columns typed from the values."""
    from shim_sqlalchemy.result import RESULT_FILE, ParquetSink, generic_columns, unique_names

    if out_dir is None:
        conn.exec_driver_sql(sql, params)
        return 0
    result = conn.execution_options(stream_results=True, max_row_buffer=fetch_rows).exec_driver_sql(
        sql, params
    )
    try:
        if not result.returns_rows:
            raise _no_rows_error()
        columns = generic_columns(unique_names(list(result.keys())))
        sink = ParquetSink(out_dir / RESULT_FILE, columns, batch_rows)
        return _drain(result.fetchmany, sink, fetch_rows, deadline)
    finally:
        result.close()


def _drain(fetchmany: Any, sink: Any, fetch_rows: int, deadline: float | None) -> int:
    """Fetch rows into ``sink`` until there are none (or the deadline passes); the rows
    written. A fetch asks for :data:`FIRST_FETCH_ROWS`, then for as many rows as hold about
    :data:`FETCH_BYTES` by the size of the rows so far, never more than ``fetch_rows``: wide
    rows do not pile up. The garbage collector rests meanwhile (every row is a tuple it would
    track, for nothing)."""
    from shim.sql.results import gc_paused

    try:
        with gc_paused():
            n, seen_rows, seen_bytes = min(fetch_rows, FIRST_FETCH_ROWS), 0, 0
            while True:
                _check_deadline(deadline)
                rows = fetchmany(n)
                if not rows:
                    break
                seen_bytes += sink.add(rows)
                seen_rows += len(rows)
                n = max(1, min(fetch_rows, FETCH_BYTES * seen_rows // max(seen_bytes, 1)))
                del rows
        return sink.close()
    except BaseException:
        sink.abort()
        raise
