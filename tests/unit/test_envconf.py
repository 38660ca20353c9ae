"""shim.envconf: the one parser of environment settings, and the settings that use it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shim import envconf
from shim.envconf import InvalidConfigError
from shim.errors import UserError

SHIM = Path(__file__).resolve().parents[2] / "shim"


@pytest.mark.parametrize("word", ["1", "true", "T", "yes", "Y", "on", " TRUE "])
def test_true_words(word):
    assert envconf.flag("X", environ={"X": word}) is True


@pytest.mark.parametrize("word", ["0", "false", "F", "no", "N", "off", " Off "])
def test_false_words(word):
    assert envconf.flag("X", True, environ={"X": word}) is False


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_unset_and_blank_mean_the_default(raw):
    env = {} if raw is None else {"X": raw}
    assert envconf.flag("X", True, environ=env) is True
    assert envconf.integer("X", 7, environ=env) == 7
    assert envconf.number("X", 2.5, environ=env) == 2.5
    assert envconf.text("X", "d", environ=env) == "d"
    assert envconf.choice("X", ("a", "b"), "a", environ=env) == "a"


@pytest.mark.parametrize(
    "call, raw, expected",
    [
        (lambda env: envconf.flag("X", environ=env), "enabled", "a boolean"),
        (lambda env: envconf.integer("X", 5, minimum=1, environ=env), "0", "a whole number >= 1"),
        (lambda env: envconf.integer("X", 5, environ=env), "2.5", "a whole number"),
        (lambda env: envconf.number("X", 1.0, positive=True, environ=env), "0", "positive"),
        (lambda env: envconf.number("X", 1.0, environ=env), "nan", "a number"),
        (lambda env: envconf.number("X", 1.0, environ=env), "inf", "a number"),
        (lambda env: envconf.number("X", 1.0, minimum=0, environ=env), "-1", ">= 0"),
        (lambda env: envconf.choice("X", ("a", "b"), environ=env), "c", "one of a, b"),
    ],
)
def test_bad_values_name_the_variable(call, raw, expected):
    with pytest.raises(InvalidConfigError) as e:
        call({"X": raw})
    assert isinstance(e.value, UserError) and e.value.code == "InvalidConfig"
    assert f"X={raw!r}" in str(e.value) and expected in str(e.value)


def test_numbers():
    assert envconf.integer("X", 0, environ={"X": " 1_000 "}) == 1000
    assert envconf.number("X", 0.0, environ={"X": "1e3"}) == 1000.0


@pytest.mark.parametrize(
    "name, read",
    [
        ("SHIM_STORAGE_RETRIES", "shim.storage:default_storage"),
        ("SHIM_STORAGE_MAX_CONCURRENCY", "shim.storage:default_storage"),
        ("SHIM_STORAGE_BACKOFF", "shim.storage:default_storage"),
        ("SHIM_STORAGE_READ_TIMEOUT", "shim.storage:s3_options"),
        ("SHIM_LOCAL_TIMEOUT", "shim.local.runner:_default_timeout"),
        ("SHIM_TERM_GRACE", "shim.runtime.supervisor:term_grace"),
        ("FLYTE_FAIL_ON_ERROR", "shim.runtime.errordoc:fail_on_error"),
        ("SHIM_SQLITE3_MAX_EXTRACT_BYTES", "shim_sqlite3.archive:_resolve_max_bytes"),
        ("SHIM_DOCKER_RETENTION", "shim_docker.connector:_retention"),
    ],
)
def test_every_setting_rejects_garbage_by_name(monkeypatch, name, read):
    import importlib

    import shim.storage

    module, _, func = read.partition(":")
    fn = getattr(importlib.import_module(module), func)
    monkeypatch.setenv(name, "garbage")
    shim.storage.reset_cache()
    try:
        with pytest.raises(InvalidConfigError, match=name):
            fn(None) if func in ("_resolve_max_bytes",) else fn()
    finally:
        monkeypatch.delenv(name)
        shim.storage.reset_cache()


#: what a setting's name looks like (a constant read from a mapping of the environment)
SETTING = re.compile(r"^(SHIM|FLYTE|AWS|DOCKER|_F)[A-Z0-9_]*$")


def _package_files() -> list[Path]:
    """shim/ and the import packages of the executors and connectors this tree ships."""
    repo = SHIM.parent
    files = sorted(SHIM.rglob("*.py"))
    for dist in sorted([*(repo / "executors").glob("*"), *(repo / "connectors").glob("*")]):
        for init in sorted(dist.glob("*/__init__.py")):
            files += sorted(init.parent.rglob("*.py"))
    return files


def test_settings_are_parsed_only_here():
    """No module of shim/, of an executor or of a connector reads a named setting itself:
    not from ``os.environ`` (``.get``, ``getenv``, ``[...]``) nor from a mapping of the
    environment it was given (``env.get("FLYTE_AWS_ENDPOINT")``). Saving and restoring
    variables, or setting them for a child, is fine."""
    offenders = []
    for path in _package_files():
        if path.name == "envconf.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            name = None
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "getenv")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                receiver = ast.unparse(node.func.value)
                name = node.args[0].value
                if receiver not in ("os.environ", "os") and not SETTING.match(name):
                    name = None
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and ast.unparse(node.value) == "os.environ"
            ):
                name = ast.unparse(node.slice)
            if name is not None:
                offenders.append(f"{path.relative_to(SHIM.parent)}:{node.lineno} {name}")
    assert offenders == []


def test_storage_settings_follow_the_one_rule():
    """S3 settings are read like every other: a blank value is unset, spaces are trimmed."""
    from shim.storage import s3_options

    opts = s3_options({"FLYTE_AWS_ENDPOINT": "  ", "AWS_ENDPOINT_URL": " http://127.0.0.1:9 "})
    assert opts["endpoint_url"] == "http://127.0.0.1:9"
    opts = s3_options({"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert opts["client_kwargs"]["region_name"] == "eu-west-1"
