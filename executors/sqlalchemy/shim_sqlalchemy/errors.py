"""What a failure of the database means, classified by what a retry can fix.

Every error is a USER error (the database is the task's, not the platform's: WIRE.md
section 4 charges USER errors to the task's own ``retries``). Those a retry may fix are
:class:`shim.RecoverableError` subclasses (``kind`` RECOVERABLE); the others are
non-recoverable, each with its own ``code`` (a class is named after its code, plus
``Error``: ``str(TaskFailedError)`` leaves out only that name before the reason):

=========================================== ========================== ==============
failure                                      code                       kind
=========================================== ========================== ==============
server unreachable, connection refused or    ``DatabaseUnavailable``    RECOVERABLE
lost, server starting / shutting down, out
of resources
too many connections (server or role limit)  ``TooManyConnections``     RECOVERABLE
serialization failure, deadlock              ``SerializationFailure``   RECOVERABLE
wrong password, unknown role, refused by     ``AuthenticationFailed``   NON_RECOVERABLE
pg_hba
database does not exist                      ``DatabaseNotFound``       NON_RECOVERABLE
bad URL, unknown dialect, missing driver,    ``BadConnectionConfig``    NON_RECOVERABLE
invalid connect argument
syntax error                                 ``QuerySyntaxError``       NON_RECOVERABLE
table / column does not exist                ``UnknownTable`` /         NON_RECOVERABLE
                                             ``UnknownColumn``
write on the read-only path                  ``WriteRefused``           NON_RECOVERABLE
no permission                                ``PermissionDenied``       NON_RECOVERABLE
statement timeout (the task's ``timeout``)   ``StatementTimeout``       NON_RECOVERABLE
value the result cannot hold (NaN in a        ``UnrepresentableValue``   NON_RECOVERABLE
decimal column, a date beyond year 9999)
any other query error                        ``QueryError``             NON_RECOVERABLE
=========================================== ========================== ==============

A secret that is not injected is shimkit's own ``USER:SecretNotFound``. Messages carry the
database's own reason (``password authentication failed for user "reader"``) and what to
do; never a password (none is ever put in one, and the runtime also redacts every secret
value), never SQLAlchemy's "[parameters: ...]".
"""

from __future__ import annotations

import re
from typing import Any

from shim.errors import RecoverableError, UserError
from shim.sql.errors import DatabaseNotFoundError, QueryError, QueryTemplateError, quoted_sql

__all__ = [
    "AuthenticationFailedError",
    "BadConnectionConfigError",
    "DatabaseNotFoundError",
    "DatabaseUnavailableError",
    "PermissionDeniedError",
    "QueryError",
    "QuerySyntaxError",
    "QueryTemplateError",
    "SerializationFailureError",
    "StatementTimeoutError",
    "TooManyConnectionsError",
    "UnknownColumnError",
    "UnknownTableError",
    "UnrepresentableValueError",
    "WriteRefusedError",
    "classify",
]


# --- recoverable ----------------------------------------------------------------------------


class DatabaseUnavailableError(RecoverableError):
    """The server cannot be reached or went away; a later attempt may find it."""

    code = "DatabaseUnavailable"


class TooManyConnectionsError(RecoverableError):
    """The server (or the role) has no connection slot free right now."""

    code = "TooManyConnections"


class SerializationFailureError(RecoverableError):
    """The transaction lost a serialization conflict or a deadlock; retrying is the cure."""

    code = "SerializationFailure"


# --- not recoverable ------------------------------------------------------------------------


class BadConnectionConfigError(UserError):
    """The URL, the dialect/driver, a connect argument or a secret is wrong or missing."""

    code = "BadConnectionConfig"


class AuthenticationFailedError(UserError):
    code = "AuthenticationFailed"


class QuerySyntaxError(QueryError):
    code = "QuerySyntaxError"


class UnknownTableError(QueryError):
    code = "UnknownTable"


class UnknownColumnError(QueryError):
    code = "UnknownColumn"


class WriteRefusedError(QueryError):
    code = "WriteRefused"


class PermissionDeniedError(QueryError):
    code = "PermissionDenied"


class StatementTimeoutError(QueryError):
    code = "StatementTimeout"


class UnrepresentableValueError(QueryError):
    code = "UnrepresentableValue"


# --- classification ---------------------------------------------------------------------------

#: SQLSTATE (or its two-character class) -> error class, most specific first
_BY_SQLSTATE: dict[str, type[UserError]] = {
    "53300": TooManyConnectionsError,
    "40001": SerializationFailureError,
    "40P01": SerializationFailureError,
    "57P01": DatabaseUnavailableError,  # admin_shutdown
    "57P02": DatabaseUnavailableError,  # crash_shutdown
    "57P03": DatabaseUnavailableError,  # cannot_connect_now
    "57014": StatementTimeoutError,  # query_canceled (statement_timeout)
    "28P01": AuthenticationFailedError,
    "28000": AuthenticationFailedError,
    "3D000": DatabaseNotFoundError,
    "42601": QuerySyntaxError,
    "42P01": UnknownTableError,
    "42703": UnknownColumnError,
    "25006": WriteRefusedError,
    "42501": PermissionDeniedError,
    "08": DatabaseUnavailableError,  # connection exception
    "53": DatabaseUnavailableError,  # insufficient resources
    "58": DatabaseUnavailableError,  # system error (I/O)
}

# connection failures reported by the client library (libpq gives no SQLSTATE for them)
_CONNECT_PATTERNS: list[tuple[re.Pattern[str], type[UserError]]] = [
    (
        re.compile(
            r"password authentication failed|authentication failed|no password supplied|"
            r"role \S+ does not exist|no pg_hba\.conf entry|Access denied for user",
            re.I,
        ),
        AuthenticationFailedError,
    ),
    (re.compile(r"database \S+ does not exist|Unknown database", re.I), DatabaseNotFoundError),
    (re.compile(r"too many (connections|clients)", re.I), TooManyConnectionsError),
    (
        re.compile(
            r"invalid (dsn|connection option|integer value|sslmode value|value for)|"
            r"SSL (is )?required|does not support SSL|certificate|invalid URI|"
            r"could not translate host name .* Name or service not known|"
            r"unrecognized|invalid port",
            re.I,
        ),
        BadConnectionConfigError,
    ),
]

# the connection went away in the middle of the query (no SQLSTATE from the client library)
_LOST = re.compile(
    r"server closed the connection|connection (was )?(lost|closed|reset)|"
    r"terminating connection|consuming input failed|SSL SYSCALL|EOF detected|"
    r"Lost connection to|server has gone away",
    re.I,
)


def _sqlstate(orig: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):  # psycopg 3, psycopg2
        value = getattr(orig, attr, None)
        if isinstance(value, str) and value:
            return value
    diag = getattr(orig, "diag", None)
    value = getattr(diag, "sqlstate", None)
    return value if isinstance(value, str) and value else None


def database_message(exc: BaseException) -> str:
    """The database's own reason, without SQLAlchemy's decorations ([SQL: ...],
    [parameters: ...], the background link) and without libpq's noise."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip() or type(orig).__name__
    text = re.sub(r"^connection failed:\s*", "", text)
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    # libpq: 'connection to server at "h" (ip), port p failed: FATAL:  reason'
    lines = [re.sub(r"\bFATAL:\s+", "", ln) for ln in lines]
    return "\n".join(lines)


def classify(
    exc: BaseException,
    *,
    phase: str,
    where: str,
    sql: str = "",
    read_only: bool = True,
    redact: Any = None,
) -> UserError:
    """The shimkit error for a database failure ``exc`` (a SQLAlchemy or DB-API exception).

    ``phase`` is ``"connect"`` or ``"query"``; ``where`` names the database (its URL with the
    password hidden); ``sql`` is the statement sent, quoted (shortened) in query errors;
    ``redact`` is applied to the message (the secret values the executor resolved).
    """
    message = database_message(exc)
    orig = getattr(exc, "orig", None) or exc
    state = _sqlstate(orig)
    cls: type[UserError] | None = None
    if state:
        cls = _BY_SQLSTATE.get(state) or _BY_SQLSTATE.get(state[:2])
    if cls is None and phase == "connect":
        for pattern, candidate in _CONNECT_PATTERNS:
            if pattern.search(message):
                cls = candidate
                break
        else:
            cls = DatabaseUnavailableError  # refused, unreachable, timed out, reset...
    if cls is StatementTimeoutError and "statement timeout" not in message:
        cls = QueryError  # canceled by someone else (pg_cancel_backend): not our timeout
    if cls is None and not state and type(orig).__name__ == "DataError":
        cls = UnrepresentableValueError  # the driver could not convert a value it received
    if cls is None and _LOST.search(message):
        cls = DatabaseUnavailableError
    if cls is None and read_only and "data-modifying" in message:
        cls = WriteRefusedError
    if cls is None:
        cls = QueryError

    if phase == "connect":
        advice = {
            AuthenticationFailedError: (
                "check the user in the URL and the password secret (secret_connect_args) "
                "the platform injects"
            ),
            DatabaseNotFoundError: "check the database name in the task's uri",
            TooManyConnectionsError: "the server is at its connection limit; a retry may succeed",
            BadConnectionConfigError: "check the task's uri and connect_args",
        }.get(cls, "check that the server is running and reachable from the container")
        text = f"cannot connect to {where}: {message}\n({advice})"
    else:
        advice = {
            WriteRefusedError: (
                "the task runs its query in a read-only transaction; a task that must write "
                "sets SQLAlchemyConfig(read_only=False)"
            ),
            StatementTimeoutError: (
                "the query ran longer than the task's timeout; make it faster or raise the "
                "task's timeout"
            ),
            TooManyConnectionsError: "a retry may succeed",
            SerializationFailureError: "a retry may succeed",
            DatabaseUnavailableError: "the connection to the server was lost; a retry may succeed",
            UnrepresentableValueError: (
                "a value has no Python/Arrow form (infinity, a date before year 1 or after "
                "9999...): cast the column to text in the query"
            ),
        }.get(cls)
        text = message + (f"\n({advice})" if advice else "") + f"\nquery: {quoted_sql(sql)}"
    if redact is not None:
        text = redact(text)
    return cls(text)
