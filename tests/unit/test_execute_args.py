"""Parsing of `shim execute` flags (WIRE.md section 1)."""

from __future__ import annotations

import pytest

from shim.runtime.args import FLYTEKIT_RESOLVER, UsageError, absent, parse_execute_args


@pytest.mark.parametrize(
    "value",
    ["", '""', "''", "'\"\"'", "{{.prevCheckpointPrefix}}", "{{ .PrevCheckpointPrefix }}", "  "],
)
def test_absent_values(value):
    assert absent(value) is None


@pytest.mark.parametrize("value", ["s3://b/k", "/tmp/x", "file:///a", "{{.x}}/y"])
def test_present_values(value):
    assert absent(value) == value


def test_parse_full_command_line():
    a = parse_execute_args(
        [
            "--inputs",
            "s3://b/in.pb",
            "--output-prefix",
            "s3://b/out",
            "--raw-output-data-prefix",
            "s3://b/raw",
            "--checkpoint-path",
            "s3://b/ck",
            "--prev-checkpoint",
            '""',
            "--resolver",
            FLYTEKIT_RESOLVER,
            "--",
            "s3://b/task.pb",
            "flytekit.extras.sqlite3.task.SQLite3TaskExecutor",
        ]
    )
    assert a.inputs == "s3://b/in.pb" and a.output_prefix == "s3://b/out"
    assert a.raw_output_data_prefix == "s3://b/raw" and a.checkpoint_path == "s3://b/ck"
    assert a.prev_checkpoint is None
    assert a.resolver == FLYTEKIT_RESOLVER
    assert a.resolver_args == ["s3://b/task.pb", "flytekit.extras.sqlite3.task.SQLite3TaskExecutor"]


def test_flytekit_only_flags_are_accepted():
    a = parse_execute_args(
        [
            "--test",
            "--dynamic-addl-distro",
            "x",
            "--dynamic-dest-dir",
            "y",
            "--output-prefix",
            "/o",
            "--",
            "t",
            "m.C",
        ]
    )
    assert a.output_prefix == "/o"


def test_unknown_flag_is_usage_error():
    with pytest.raises(UsageError, match="--bogus"):
        parse_execute_args(["--bogus", "1"])


def test_parses_are_independent_of_each_other():
    """The parser is built once and shared (in-process runs parse on every run, gathered
    children in several threads at once): no value carries over from one parse to the next."""
    from concurrent.futures import ThreadPoolExecutor

    first = parse_execute_args(["--inputs", "s3://b/in.pb", "--output-prefix", "s3://b/out"])
    second = parse_execute_args(["--output-prefix", "s3://b/other"])
    assert first.inputs == "s3://b/in.pb" and second.inputs is None
    assert second.output_prefix == "s3://b/other"

    def parse(i: int) -> str | None:
        return parse_execute_args(["--output-prefix", f"s3://b/{i}"]).output_prefix

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(parse, range(200))) == [f"s3://b/{i}" for i in range(200)]
