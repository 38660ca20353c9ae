"""Hostile and broken input through the real entrypoint: each ends in a specific error and
nothing is half-written (no outputs.pb, no raw data). What tests/integration and
tests/executors/sqlite3 already cover (one corrupt template, a missing template or inputs, an
int for a string, missing+extra inputs, the archive module) is not repeated here."""

from __future__ import annotations

import io
import random
import sqlite3
import tarfile
import zipfile
from pathlib import Path

import pytest

from shim import idl
from shim.runtime.args import parse_execute_args
from shim.runtime.entrypoint import run
from shim.task.serialize import to_bytes
from shim.task.template import SerializationContext
from tests.reliability import executors as rex
from tests.reliability.helpers import (
    classification,
    error_message,
    files_under,
    make_task,
    read_error,
    read_outputs,
    run_execute,
)
from tests.support.execute import stage_task


def execute(args: list[str]) -> int:
    """The entrypoint in this process (fast); the subprocess tests below cover the rest."""
    return run(parse_execute_args(args), handle_sigterm=False)


def nothing_half_written(s) -> None:
    assert read_outputs(s.outputs) is None
    raw = s.args[s.args.index("--raw-output-data-prefix") + 1]
    assert files_under(raw) == [], files_under(raw)


def echo_task(**inputs):
    return make_task(rex.Echo, inputs=inputs, outputs=inputs, name="reliability.echo")


def staged(tmp_path, inputs=None, values=None):
    inputs = inputs or {"x": int}
    return stage_task(echo_task(**inputs), values or {"x": 1}, str(tmp_path / "run"))


# --- broken documents -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_template(tmp_path, seed):
    s = staged(tmp_path)
    rng = random.Random(seed)
    Path(s.stage.template).write_bytes(rng.randbytes(rng.choice([1, 7, 100, 4096, 70000])))
    assert execute(s.args) == 0
    assert classification(s.outputs) == ("USER:TemplateCorrupt", "NON_RECOVERABLE", "USER")
    nothing_half_written(s)


def test_truncated_templates(tmp_path):
    s = staged(tmp_path)
    good = Path(s.stage.template).read_bytes()
    codes = set()
    for cut in sorted({1, 2, 5, len(good) // 3, len(good) // 2, len(good) - 7, len(good) - 1}):
        Path(s.stage.template).write_bytes(good[:cut])
        assert execute(s.args) == 0
        code, kind, origin = classification(s.outputs)
        assert (kind, origin) == ("NON_RECOVERABLE", "USER"), (cut, code)
        codes.add(code)
        nothing_half_written(s)
    assert codes <= {"USER:TemplateCorrupt", "USER:InputMismatch", "USER:BadCustom"}, codes


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_inputs(tmp_path, seed):
    s = staged(tmp_path)
    rng = random.Random(seed)
    Path(s.stage.inputs).write_bytes(rng.randbytes(rng.choice([1, 3, 64, 5000])))
    assert execute(s.args) == 0
    code, kind, origin = classification(s.outputs)
    assert code in ("USER:InputsCorrupt", "USER:InputMismatch"), error_message(s.outputs)
    assert (kind, origin) == ("NON_RECOVERABLE", "USER")
    nothing_half_written(s)


def test_truncated_inputs(tmp_path):
    s = staged(tmp_path, {"x": str, "y": list[int]}, {"x": "hello" * 20, "y": list(range(50))})
    good = Path(s.stage.inputs).read_bytes()
    for cut in (1, 10, len(good) // 2, len(good) - 1):
        Path(s.stage.inputs).write_bytes(good[:cut])
        assert execute(s.args) == 0
        code, _, _ = classification(s.outputs)
        assert code in ("USER:InputsCorrupt", "USER:InputMismatch"), (cut, code)
        nothing_half_written(s)


def test_empty_inputs_file_is_an_empty_map(tmp_path):
    s = staged(tmp_path)
    Path(s.stage.inputs).write_bytes(b"")
    assert execute(s.args) == 0
    err = read_error(s.outputs)
    assert err.code == "USER:InputMismatch" and "missing inputs ['x']" in err.message


def test_inputs_above_max_inline_io_bytes(tmp_path):
    task = make_task(rex.Echo, inputs={"x": str}, outputs={"x": str}, max_inline_io_bytes=1000)
    s = stage_task(task, {"x": "y" * 5000}, str(tmp_path / "run"))
    assert execute(s.args) == 0
    assert classification(s.outputs) == ("USER:InlineIOTooLarge", "NON_RECOVERABLE", "USER")
    assert "max_inline_io_bytes" in error_message(s.outputs)
    nothing_half_written(s)


# --- literals of the wrong type ---------------------------------------------------------------


def lit(**kw) -> idl.Literal:
    from google.protobuf import json_format

    return json_format.ParseDict(kw, idl.Literal())


WRONG = [
    ({"x": int}, lit(collection={"literals": [{"scalar": {"primitive": {"integer": "1"}}}]})),
    ({"x": int}, lit(scalar={"noneType": {}})),
    ({"x": int}, lit(scalar={"blob": {"uri": "/etc/passwd"}})),
    ({"x": list[int]}, lit(map={"literals": {"a": {"scalar": {"primitive": {"integer": "1"}}}}})),
    (
        {"x": list[int]},
        lit(collection={"literals": [{"scalar": {"primitive": {"stringValue": "a"}}}]}),
    ),
    ({"x": dict}, lit(scalar={"binary": {"value": "//79/A==", "tag": "msgpack"}})),
    ({"x": dict}, lit(scalar={"binary": {"value": "AAAA", "tag": "pickle"}})),
    ({"x": bool}, lit(scalar={"primitive": {"floatValue": 1.0}})),
    ({"x": str}, lit()),
]


@pytest.mark.parametrize("inputs, literal", WRONG, ids=range(len(WRONG)))
def test_literal_of_the_wrong_type(tmp_path, inputs, literal):
    task = echo_task(**inputs)
    base = str(tmp_path / "run")
    from shim.local.staging import Stage, render_args

    stage = Stage(base)
    Path(stage.template).parent.mkdir(parents=True, exist_ok=True)
    sctx = SerializationContext()
    Path(stage.template).write_bytes(to_bytes(task, sctx))
    lm = idl.LiteralMap()
    lm.literals["x"].CopyFrom(literal)
    Path(stage.inputs).write_bytes(idl.serialize(lm))
    args = render_args(task.container_args(sctx), stage.values())[1:]
    assert execute(args) == 0
    err = read_error(stage.outputs)
    assert (err.code, err.kind) == ("USER:InputMismatch", 0), err.message
    assert "input 'x" in err.message  # 'x' or an element of it, e.g. 'x[0]'
    assert read_outputs(stage.outputs) is None


# --- names, URLs, buckets -------------------------------------------------------------------


def test_unicode_and_very_long_names(tmp_path):
    names = {"名前": str, "ñandú_🦤": int, "x" * 2000: float, "with space": bool}
    values = {"名前": "値 ✓", "ñandú_🦤": 7, "x" * 2000: 1.5, "with space": True}
    task = make_task(rex.Echo, inputs=names, outputs=names, name="réliabilité." + "n" * 500)
    s = stage_task(task, values, str(tmp_path / "sübdir with spaces ✓"))
    proc = run_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    lm = read_outputs(s.outputs)
    assert lm.literals["名前"].scalar.primitive.string_value == "値 ✓"
    assert lm.literals["ñandú_🦤"].scalar.primitive.integer == 7
    assert lm.literals["x" * 2000].scalar.primitive.float_value == 1.5


def test_output_prefix_too_long_for_the_file_system(tmp_path):
    s = staged(tmp_path)
    args = list(s.args)
    args[args.index("--output-prefix") + 1] = str(tmp_path / ("o" * 300))
    proc = run_execute(args)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert "could not write the error document" in lines[-1]
    assert "File name too long" in lines[-1]


@pytest.mark.parametrize("flag", ["--inputs", "template"])
def test_unknown_url_scheme(tmp_path, flag):
    s = staged(tmp_path)
    args = list(s.args)
    i = args.index("--inputs") + 1 if flag == "--inputs" else args.index("--") + 1
    args[i] = "nosuchscheme://bucket/key.pb"
    assert execute(args) == 0
    err = read_error(s.outputs)
    assert err.code == "USER:UnsupportedURL" and "nosuchscheme" in err.message
    nothing_half_written(s)


def test_unknown_scheme_for_the_output_prefix(tmp_path):
    s = staged(tmp_path)
    args = list(s.args)
    args[args.index("--output-prefix") + 1] = "nosuchscheme://bucket/out"
    proc = run_execute(args)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "could not write the error document" in last and "nosuchscheme" in last


@pytest.mark.parametrize(
    "what, url, code",
    [
        ("--inputs", "s3://no-such-bucket-{}/inputs.pb", "USER:InputsNotFound"),
        ("--inputs", "{bucket}/no/such/inputs.pb", "USER:InputsNotFound"),
        ("template", "s3://no-such-bucket-{}/task.pb", "USER:TemplateNotFound"),
        ("template", "{bucket}/no/such/task.pb", "USER:TemplateNotFound"),
    ],
)
def test_missing_bucket_and_key(s3_env, s3_bucket, tmp_path, what, url, code):
    s = staged(tmp_path)
    args = list(s.args)
    i = args.index("--inputs") + 1 if what == "--inputs" else args.index("--") + 1
    args[i] = url.format(random.randrange(10**9), bucket=s3_bucket)
    assert execute(args) == 0
    assert classification(s.outputs) == (code, "NON_RECOVERABLE", "USER")
    nothing_half_written(s)


# --- SQL and archives through the real entrypoint -------------------------------------------


def make_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x');")
    con.commit()
    con.close()
    return path


def sqlite_task(tmp_path: Path, query: str, uri: str, compressed: bool = False):
    from shim_sqlite3 import SQLite3Config, SQLite3Task

    task = SQLite3Task(
        "reliability.sql",
        query_template=query,
        task_config=SQLite3Config(uri=uri, compressed=compressed),
    )
    return stage_task(task, {}, str(tmp_path / "run"))


def test_malformed_sql(tmp_path):
    s = sqlite_task(tmp_path, "SELEC a FROM t WHERE (", str(make_db(tmp_path / "db.sqlite")))
    proc = run_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:QueryError", "NON_RECOVERABLE", "USER")
    assert "syntax error" in error_message(s.outputs)
    nothing_half_written(s)


@pytest.mark.slow
def test_huge_sql(tmp_path):
    """A 10 MB query (a valid one: a long IN list) runs; a 10 MB malformed one fails cleanly."""
    db = str(make_db(tmp_path / "db.sqlite"))
    ok = "SELECT a FROM t WHERE a IN (" + ",".join(["1"] * 2_500_000) + ")"
    assert len(ok) > 5_000_000
    s = sqlite_task(tmp_path / "ok", ok, db)
    proc = run_execute(s.args, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_error(s.outputs) is None and read_outputs(s.outputs) is not None
    bad = "SELECT " + "(" * 10_000_000
    s = sqlite_task(tmp_path / "bad", bad, db)
    proc = run_execute(s.args, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, kind, origin = classification(s.outputs)
    assert (code, kind, origin) == ("USER:QueryError", "NON_RECOVERABLE", "USER")
    assert len(error_message(s.outputs)) < 20_000  # the query is not echoed back whole
    nothing_half_written(s)


def test_archive_bomb_through_the_entrypoint(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("db.sqlite", b"\0" * (64 << 20))
    s = sqlite_task(tmp_path, "SELECT 1", str(bomb), compressed=True)
    proc = run_execute(s.args, {"SHIM_SQLITE3_MAX_EXTRACT_BYTES": str(8 << 20)})
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:ArchiveTooLarge", "NON_RECOVERABLE", "USER")
    nothing_half_written(s)


def test_path_traversal_archive_through_the_entrypoint(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    data = make_db(tmp_path / "db.sqlite").read_bytes()
    with tarfile.open(evil, "w:gz") as t:
        info = tarfile.TarInfo("../../escaped.sqlite")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    s = sqlite_task(tmp_path, "SELECT 1", str(evil), compressed=True)
    proc = run_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    code, kind, _ = classification(s.outputs)
    assert code.startswith("USER:") and kind == "NON_RECOVERABLE"
    assert not list(tmp_path.rglob("escaped.sqlite"))
    assert not Path("/tmp/escaped.sqlite").exists()
    nothing_half_written(s)
