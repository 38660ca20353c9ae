"""`make bench`: shimkit against flytekit 1.16, side by side, in one run on one machine.

Writes ``bench/RESULTS.md`` (and prints it). Each measured command is a fresh process; wall
time is ``time.perf_counter`` around it and peak RSS is the child's ``ru_maxrss`` from
``os.wait4``. After warm-up run(s), the median of N runs is reported.

Environments (created under ``bench/.work`` and cached):

- ``shim-venv``: ``pip install '.[s3,dataframe]' executors/sqlite3 executors/sqlalchemy`` (not
  editable) — what the images install; reinstalled when the sources change. Every shimkit
  figure runs here.
- ``flytekit-venv``: ``flytekit==1.16.*``, pandas, pyarrow, and for section 4
  ``flytekitplugins-sqlalchemy`` with ``psycopg[binary]`` — the reference.
- section 4 starts a throwaway PostgreSQL cluster (tests/fixtures/postgres.py) and stops it.
- ``floor-venv``: adbc-driver-sqlite and pyarrow only — the floor script.
- the project's dev venv (the interpreter running this script): moto, boto3.

``--quick`` runs a reduced set (< 2 minutes) and writes ``bench/.work/RESULTS-quick.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import pickle
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
PEAK_RSS_LAUNCHER = ROOT / "tests" / "support" / "peak_rss.py"
DATA = WORK / "data"
FK_VENV = WORK / "flytekit-venv"
SHIM_VENV = WORK / "shim-venv"
FLOOR_VENV = WORK / "floor-venv"
DEV_PY = Path(sys.executable)
sys.path.insert(0, str(BENCH))

import data  # noqa: E402

SQL = "SELECT * FROM t WHERE id >= {{ .inputs.min_id }}"
FK_RESOLVER = "flytekit.core.python_customized_container_task.default_task_template_resolver"
GIB = 1 << 30
MIB = 1 << 20
TIMES = "\u00d7"  # the multiplication sign
SKIP_DIRS = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "wheel")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    rss_kib: int
    rc: int
    out: str
    err: str


def run_once(
    cmd: list[str], env: dict[str, str], cwd: Path | None = None, check: bool = True
) -> Run:
    """Run ``cmd`` as a fresh process: wall time and peak RSS (``ru_maxrss`` via os.wait4).

    The command is started by a small fork/exec launcher (tests/support/peak_rss.py): on Linux
    ``ru_maxrss`` includes what a process held before ``exec``, so a child started directly
    from this harness would report at least the harness's own RSS. The launcher also times
    the command from its fork, so its own start-up is not counted.
    """
    WORK.mkdir(parents=True, exist_ok=True)
    measured = WORK / "last.peak"
    launcher = [sys.executable, "-S", str(PEAK_RSS_LAUNCHER), str(measured), *cmd]
    with open(WORK / "last.out", "w+b") as fo, open(WORK / "last.err", "w+b") as fe:
        proc = subprocess.run(launcher, env=env, cwd=cwd, stdout=fo, stderr=fe)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read().decode(errors="replace"), fe.read().decode(errors="replace")
    rss_kib, wall = measured.read_text().split()
    r = Run(float(wall), int(rss_kib), proc.returncode, out, err)
    if check and r.rc != 0:
        raise RuntimeError(f"command failed ({r.rc}): {' '.join(cmd)}\n{err[-3000:]}")
    return r


@dataclass
class Stat:
    walls: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def rss_mib(self) -> float:
        return statistics.median(self.rss) / 1024


def measure(
    make_cmd, env: dict[str, str], runs: int, warmup: int = 1, cwd: Path | None = None, after=None
) -> Stat:
    """``make_cmd(i)`` gives the command of run ``i`` (fresh output prefixes); ``after(i, run)``
    may check the run. Warm-up runs are not counted."""
    stat = Stat()
    for i in range(warmup + runs):
        r = run_once(make_cmd(i), env, cwd)
        if after is not None:
            after(i, r)
        if i >= warmup:
            stat.walls.append(r.wall)
            stat.rss.append(r.rss_kib)
    return stat


def measure_interleaved(
    commands: dict[str, object],
    env: dict[str, str],
    runs: int,
    warmup: int = 1,
    cwd: dict[str, Path] | None = None,
    after: dict[str, object] | None = None,
) -> dict[str, Stat]:
    """Like :func:`measure` for several commands, interleaved: round ``i`` runs each command
    once (``commands[name](i)``), so that a change in the machine's load hits all of them
    alike. Warm-up rounds are not counted."""
    stats = {name: Stat() for name in commands}
    for i in range(warmup + runs):
        for name, make_cmd in commands.items():
            r = run_once(make_cmd(i), env, (cwd or {}).get(name))  # type: ignore[operator]
            check = (after or {}).get(name)
            if check is not None:
                check(i, r)  # type: ignore[operator]
            if i >= warmup:
                stats[name].walls.append(r.wall)
                stats[name].rss.append(r.rss_kib)
    return stats


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "SHIM_", "FLYTE", "AWS_", "VIRTUAL_ENV", "_F_"))
    }
    env["PYTHONPATH"] = str(BENCH)  # the benchmark's executor modules, for both sides
    env["PYTHONHASHSEED"] = "0"
    env.update(extra)
    return env


def vpy(venv: Path) -> str:
    return str(venv / "bin" / "python")


# --- environments ------------------------------------------------------------------------------


def sources_hash() -> str:
    h = hashlib.sha256()
    for base in (ROOT / "shim", ROOT / "executors" / "sqlite3", ROOT / "executors" / "sqlalchemy"):
        for p in sorted(base.rglob("*")):
            if (
                p.is_file()
                and "__pycache__" not in p.parts
                and "build" not in p.parts
                and ".egg-info" not in str(p)
                and p.suffix != ".so"  # the in-place build of the native reader
            ):
                h.update(str(p.relative_to(ROOT)).encode())
                h.update(p.read_bytes())
    for p in (
        ROOT / "pyproject.toml",
        ROOT / "executors" / "sqlite3" / "pyproject.toml",
        ROOT / "executors" / "sqlalchemy" / "pyproject.toml",
    ):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def pip(venv: Path, *args: str) -> None:
    subprocess.run(
        [vpy(venv), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        # shimkit-sqlite3's native reader must build, as in the image
        env={**os.environ, "SHIM_SQLITE3_NATIVE": "require"},
    )


def ensure_venvs() -> None:
    base_python = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
    stamp = FK_VENV / ".bench-installed"
    if not stamp.exists():
        log("creating the flytekit venv (flytekit==1.16.*, pandas, pyarrow); cached afterwards")
        subprocess.run([base_python, "-m", "venv", "--clear", str(FK_VENV)], check=True)
        pip(FK_VENV, "flytekit==1.16.*", "pandas", "pyarrow")
        stamp.write_text("ok\n")
    stamp = FK_VENV / ".bench-sqlalchemy-installed"
    if not stamp.exists():
        log("adding flytekitplugins-sqlalchemy and psycopg to the flytekit venv; cached afterwards")
        pip(FK_VENV, "flytekitplugins-sqlalchemy==1.16.*", "psycopg[binary]")
        stamp.write_text("ok\n")
    stamp = FLOOR_VENV / ".bench-installed"
    if not stamp.exists():
        log("creating the floor venv (adbc-driver-sqlite, pyarrow); cached afterwards")
        subprocess.run([base_python, "-m", "venv", "--clear", str(FLOOR_VENV)], check=True)
        pip(FLOOR_VENV, "adbc-driver-sqlite", "pyarrow")
        stamp.write_text("ok\n")
    stamp = SHIM_VENV / ".bench-installed"
    want = sources_hash()
    if not stamp.exists():
        log("creating the shimkit venv (.[s3,dataframe] + the executors, as in the images)")
        subprocess.run([base_python, "-m", "venv", "--clear", str(SHIM_VENV)], check=True)
        pip(SHIM_VENV, ".[s3,dataframe]", "./executors/sqlite3", "./executors/sqlalchemy")
        stamp.write_text(want)
    elif stamp.read_text().strip() != want:
        log("shimkit sources changed: reinstalling shimkit and its executors in the shimkit venv")
        pip(SHIM_VENV, "./executors/sqlalchemy")  # its dependencies, when it is new here
        pip(
            SHIM_VENV,
            "--no-deps",
            "--force-reinstall",
            ".",
            "./executors/sqlite3",
            "./executors/sqlalchemy",
        )
        stamp.write_text(want)


def version_in(venv: Path, dist: str) -> str:
    if not Path(vpy(venv)).exists():  # e.g. `--only connectors` creates no venv
        return "?"
    r = subprocess.run(
        [vpy(venv), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
    )
    return r.stdout.strip() or "?"


# --- staging ------------------------------------------------------------------------------------


def render(args: list[str], values: dict[str, str]) -> list[str]:
    lookup = {k.lower(): v for k, v in values.items()}
    pat = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
    return [pat.sub(lambda m: lookup.get(m.group(1).lower(), m.group(0)), a) for a in args]


def stage(side: str, spec: dict, where: Path) -> list[str]:
    """Serialize a task with its own framework into ``where``; the container args."""
    where.mkdir(parents=True, exist_ok=True)
    script, py = (
        ("fk_side.py", vpy(FK_VENV)) if side == "flytekit" else ("shim_side.py", vpy(SHIM_VENV))
    )
    r = run_once([py, str(BENCH / script), json.dumps({**spec, "dir": str(where)})], base_env())
    return json.loads(r.out.strip().splitlines()[-1])


def command(
    side: str,
    args: list[str],
    where: Path,
    run: str,
    raw: str | None = None,
    console: bool = True,
    flags: list[str] | None = None,
    runner: str | None = None,
) -> list[str]:
    """The rendered entrypoint command for run ``run`` (fresh output prefix each run).

    ``side`` is who serialized the template; ``runner`` who executes it (default: the same;
    ``"shim"`` runs flytekit's template through shimkit's entrypoint, as an image would
    whose ``pyflyte-execute`` is shimkit's). ``flags`` go before the entrypoint's own."""
    values = {
        "input": str(where / "inputs.pb"),
        "outputPrefix": str(where / "runs" / run / "out"),
        "rawOutputDataPrefix": raw or str(where / "runs" / run / "raw"),
        "taskTemplatePath": str(where / "task.pb"),
        "checkpointOutputPrefix": str(where / "runs" / run / "checkpoint"),
        "prevCheckpointPrefix": '""',
    }
    rendered = render(args, values)
    if (runner or side) == "flytekit":
        return [str(FK_VENV / "bin" / "pyflyte-execute"), *rendered[1:]]
    if console:
        return [str(SHIM_VENV / "bin" / "shim"), "execute", *(flags or []), *rendered[1:]]
    return [vpy(SHIM_VENV), "-m", "shim", "execute", *(flags or []), *rendered[1:]]


def check_outputs(where: Path, prefix: str = ""):
    def after(i: int, r: Run) -> None:
        out = where / "runs" / f"{prefix}{i}" / "out"
        if not (out / "outputs.pb").exists():
            raise RuntimeError(f"no outputs.pb in {out}:\n{r.err[-3000:]}")
        shutil.rmtree(where / "runs" / f"{prefix}{i}", ignore_errors=True)

    return after


def count_imports(cmd: list[str], env: dict[str, str]) -> tuple[int, list[tuple[str, float]]]:
    """Modules imported by ``cmd`` (a python script command) and the slowest top-level ones."""
    cmd = (
        [cmd[0], "-X", "importtime", *cmd[1:]]
        if cmd[0].endswith("python")
        else [str(Path(cmd[0]).parent / "python"), "-X", "importtime", *cmd]
    )
    r = run_once(cmd, env, check=False)
    n, top = 0, []
    for line in r.err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            n += 1
            if len(m.group(3)) == 1:  # top level
                top.append((m.group(4), int(m.group(2)) / 1e6))
    top.sort(key=lambda x: -x[1])
    return n, top[:6]


# --- sections ----------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    shim: str
    fk: str
    ratio: float | None
    target: str
    met: bool | None

    def cells(self) -> list[str]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}" + TIMES
        met = "" if self.met is None else ("**yes**" if self.met else "**no**")
        return [self.what, self.shim, self.fk, ratio, self.target, met]


def target_row(
    what: str, shim: float, fk: float, fmt: str, limit: float | None, higher_is_better: bool = False
) -> Row:
    ratio = shim / fk if fk else None
    met = None
    target = ""
    if limit is not None and ratio is not None:
        met = ratio >= limit if higher_is_better else ratio <= limit
        target = f"{'≥' if higher_is_better else '≤'} {limit}" + TIMES
    return Row(what, fmt.format(shim), fmt.format(fk), ratio, target, met)


def section_cold(cfg: argparse.Namespace, res: dict) -> None:
    log("section 1: entrypoint cold start")
    where = WORK / "cold"
    shutil.rmtree(where, ignore_errors=True)
    fk_args = stage("flytekit", {"kind": "noop"}, where / "flytekit")
    shim_args = stage("shim", {"kind": "noop"}, where / "shim")
    env = base_env()
    runs, warm = cfg.cold_runs, 2
    commands: dict = {"floor": lambda i: [vpy(SHIM_VENV), "-c", "pass"]}
    after: dict = {}
    for name, side, args, console, flags in [
        ("shim", "shim", shim_args, True, []),
        ("shim -m", "shim", shim_args, False, []),
        ("shim supervised", "shim", shim_args, True, ["--supervise"]),
        ("flytekit", "flytekit", fk_args, True, []),
    ]:
        w = where / side
        commands[name] = lambda i, s=side, a=args, w=w, c=console, f=flags, n=name: command(
            s, a, w, f"{n.replace(' ', '-')}-{i}", console=c, flags=f
        )
        after[name] = check_outputs(w, name.replace(" ", "-") + "-")
    out = measure_interleaved(commands, env, runs, warm, after=after)
    imports = {
        "floor": count_imports([vpy(SHIM_VENV), "-c", "pass"], env),
        "shim": count_imports(command("shim", shim_args, where / "shim", "imp"), env),
        "flytekit": count_imports(command("flytekit", fk_args, where / "flytekit", "imp"), env),
    }
    res["cold"] = {
        "stats": out,
        "imports": imports,
        "runs": runs,
        "warmup": warm,
        "cmd_shim": command("shim", shim_args, where / "shim", "N"),
        "cmd_shim_sup": command("shim", shim_args, where / "shim", "N", flags=["--supervise"]),
        "cmd_fk": command("flytekit", fk_args, where / "flytekit", "N"),
    }


#: who runs what in section 2: (template serialized by, entrypoint)
SQL_SIDES = {
    "shim": ("shim", "shim"),  # shimkit's SQLite3Task through `shim execute`
    "dropin": ("flytekit", "shim"),  # flytekit's template through `shim execute` (the alias)
    "flytekit": ("flytekit", "flytekit"),  # flytekit's template through `pyflyte-execute`
}


def section_sqlite(cfg: argparse.Namespace, res: dict) -> None:
    log("section 2: SQLite3 task end to end")
    rows: dict = {}
    for label, n in cfg.sizes:
        db = data.make_db(DATA / f"db_{label}.sqlite", n)
        modes = cfg.zip_modes if label not in cfg.plain_only else [False]
        for compressed in modes:
            src = data.make_zip(db) if compressed else db
            key = f"{label.upper() if label != '1k' else label}{' zipped' if compressed else ''}"
            where = WORK / "sqlite" / key.replace(" ", "-")
            shutil.rmtree(where, ignore_errors=True)
            spec = {"kind": "sqlite", "uri": src.as_uri(), "compressed": compressed, "query": SQL}
            sides = cfg.big_sides if label in cfg.plain_only else list(SQL_SIDES)
            staged = {s: stage(s, spec, where / s) for s in {SQL_SIDES[x][0] for x in sides}}
            commands: dict = {}
            cwd: dict = {}
            after: dict = {}
            for name in sides:
                made_by, runner = SQL_SIDES[name]
                w = where / made_by
                commands[name] = lambda i, m=made_by, a=staged[made_by], r=runner, w=w, nm=name: (
                    command(m, a, w, f"{nm}-{i}", runner=r)
                )
                cwd[name] = w
                after[name] = check_outputs(w, f"{name}-")
                res.setdefault(
                    f"cmd_sqlite_{name}", command(made_by, staged[made_by], w, "N", runner=runner)
                )
            floor_cmd = [
                vpy(FLOOR_VENV),
                str(BENCH / "floor.py"),
                str(src),
                str(where / "floor.parquet"),
            ]
            if compressed:
                floor_cmd.append("--zip")
            commands["floor"] = lambda i, c=floor_cmd: c
            st = measure_interleaved(commands, base_env(), cfg.sql_runs[label], 1, cwd, after)
            rows[key] = st
            log(
                f"  {key}: "
                + "  ".join(f"{k} {v.wall:.2f}s/{v.rss_mib:.0f}MiB" for k, v in st.items())
            )
    res["sqlite"] = rows


#: the PostgreSQL table of section 4: the SQLite table's columns plus PostgreSQL's own types
PG_TABLE = (
    "CREATE TABLE t AS SELECT g::int8 AS id, g * 0.5::float8 AS x, 'name-' || g AS name, "
    "(ARRAY['a','b','c'])[g % 3 + 1] AS cat, CASE WHEN g % 3 > 0 THEN g % 7 END::int4 AS n, "
    "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS ts, "
    "(g / 100.0)::numeric(12,2) AS amount FROM generate_series(0, {last}) g"
)


def section_sqlalchemy(cfg: argparse.Namespace, res: dict) -> None:
    """1M rows from PostgreSQL: shimkit's SQLAlchemyTask vs flytekitplugins-sqlalchemy, same
    server, same table, runs interleaved (shim, flytekit, shim, ...) so both see the same load."""
    log("section 4: SQLAlchemy task on PostgreSQL")
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.postgres import running_server, wait_ready

    out: dict = {}
    with running_server() as pg:
        wait_ready(pg)
        env = base_env(_FSEC_BENCH_PASSWORD=pg.password)
        for label, n in cfg.pg_sizes:
            pg.psql("DROP TABLE IF EXISTS t", user="shim_test")
            pg.psql(PG_TABLE.format(last=n - 1), user="shim_test")
            pg.psql("VACUUM ANALYZE t", user="shim_test")
            spec = {"kind": "sqlalchemy", "uri": pg.url(), "query": SQL}
            where = WORK / "sqlalchemy" / label
            shutil.rmtree(where, ignore_errors=True)
            args = {side: stage(side, spec, where / side) for side in ("shim", "flytekit")}
            st = {"shim": Stat(), "flytekit": Stat()}
            runs, warm = cfg.pg_runs, 1
            for i in range(warm + runs):
                for side in ("shim", "flytekit"):
                    w = where / side
                    r = run_once(command(side, args[side], w, str(i)), env, cwd=w)
                    check_outputs(w)(i, r)
                    if i >= warm:
                        st[side].walls.append(r.wall)
                        st[side].rss.append(r.rss_kib)
            out[label] = st
            res.setdefault("cmd_sqlalchemy", command("shim", args["shim"], where / "shim", "N"))
            res.setdefault(
                "cmd_sqlalchemy_fk", command("flytekit", args["flytekit"], where / "flytekit", "N")
            )
            log(
                f"  {label}: shim {st['shim'].wall:.2f}s/{st['shim'].rss_mib:.0f}MiB  flytekit "
                f"{st['flytekit'].wall:.2f}s/{st['flytekit'].rss_mib:.0f}MiB"
            )
        out["server"] = pg.psql("SHOW server_version", database="postgres").strip()
    res["sqlalchemy"] = {"sizes": out, "runs": cfg.pg_runs}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLYTE_AWS_"))}
    with open(WORK / "moto.log", "wb") as logf:
        proc = subprocess.Popen(
            [str(DEV_PY), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        end = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > end or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _phase_seconds(err: str, phase: str) -> float | None:
    m = re.search(rf"{phase}=([\d.]+)ms", err)
    return float(m.group(1)) / 1000 if m else None


def _reference(run, cmd: list[str], env: dict[str, str]) -> Run:
    """A reference transfer (s3fs called directly): once more if it fails. Under load moto
    sometimes loses a multipart upload (``NoSuchUpload`` on s3fs's own abort); that is the
    reference's flake, not something shimkit's figure depends on."""
    r = run(cmd, env, check=False)
    if r.rc != 0:
        log(f"  reference transfer failed, once more: {(r.err.strip().splitlines() or ['?'])[-1]}")
        r = run(cmd, env)
    return r


def section_large(cfg: argparse.Namespace, res: dict) -> None:
    log(f"section 3: large data through S3 (moto), {cfg.large_bytes / MIB:.0f} MiB")
    size = cfg.large_bytes
    blob = data.make_blob(DATA / f"blob-{size}.bin", size)
    frame = data.make_parquet_dataset(DATA / f"frame-{size}", size)
    frame_file = frame / "00000"
    out: dict = {}
    with moto_server() as endpoint:
        s3env = {
            "FLYTE_AWS_ENDPOINT": endpoint,
            "FLYTE_AWS_ACCESS_KEY_ID": "testing",
            "FLYTE_AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        env = base_env(**s3env, SHIM_TIMINGS="1")
        subprocess.run(
            [
                str(DEV_PY),
                "-c",
                "import boto3,sys; boto3.client('s3', endpoint_url="
                "sys.argv[1], aws_access_key_id='testing', aws_secret_access_key='testing',"
                " region_name='us-east-1').create_bucket(Bucket='bench')",
                endpoint,
            ],
            check=True,
        )
        ops = [vpy(SHIM_VENV), str(BENCH / "s3_ops.py")]
        for kind, local in (("file", blob), ("frame", frame)):
            where = WORK / "large" / kind
            shutil.rmtree(where, ignore_errors=True)
            args = stage("shim", {"kind": kind, "path": str(local)}, where)
            ups, downs, fups, fdowns, walls = [], [], [], [], []
            for i in range(cfg.large_runs):
                raw = f"s3://bench/{kind}-shim-{i}"
                r = run_once(command("shim", args, where, str(i), raw=raw), env)
                walls.append(r.wall)
                ups.append(_phase_seconds(r.err, "write-outputs") or r.wall)
                lm = subprocess.run(
                    [
                        vpy(SHIM_VENV),
                        "-c",
                        (
                            "import sys; from shim import idl; lm = idl.LiteralMap(); "
                            "lm.ParseFromString(open(sys.argv[1], 'rb').read()); "
                            "s = lm.literals['out'].scalar; "
                            "print(s.blob.uri or s.structured_dataset.uri)"
                        ),
                        str(where / "runs" / str(i) / "out" / "outputs.pb"),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                dest = where / "down" / str(i)
                d = json.loads(run_once([*ops, f"shim-get-{kind}", lm, str(dest)], env).out)
                downs.append(d["seconds"])
                shutil.rmtree(dest, ignore_errors=True)
                key = f"s3://bench/{kind}-s3fs-{i}/00000"
                src = frame_file if kind == "frame" else blob
                fups.append(
                    json.loads(_reference(run_once, [*ops, "s3fs-put", str(src), key], env).out)[
                        "seconds"
                    ]
                )
                dest.mkdir(parents=True, exist_ok=True)
                fdowns.append(
                    json.loads(
                        _reference(run_once, [*ops, "s3fs-get", key, str(dest / "x")], env).out
                    )["seconds"]
                )
                shutil.rmtree(dest, ignore_errors=True)
                shutil.rmtree(where / "runs" / str(i), ignore_errors=True)
            nbytes = frame_file.stat().st_size if kind == "frame" else blob.stat().st_size
            out[kind] = {
                "bytes": nbytes,
                "up": statistics.median(ups),
                "down": statistics.median(downs),
                "s3fs_up": statistics.median(fups),
                "s3fs_down": statistics.median(fdowns),
                "wall": statistics.median(walls),
            }
            o = out[kind]
            log(
                f"  {kind}: shim up {nbytes / MIB / o['up']:.0f} MiB/s down "
                f"{nbytes / MIB / o['down']:.0f} MiB/s; s3fs put {nbytes / MIB / o['s3fs_up']:.0f} "
                f"get {nbytes / MIB / o['s3fs_down']:.0f} MiB/s"
            )
    res["large"] = {"runs": cfg.large_runs, **out}


def du_kib(path: Path, skip: tuple[str, ...] = ()) -> int:
    """Allocated size (like ``du -sk``) below ``path``, hard links once, top-level ``skip``
    prefixes excluded."""
    total, seen = 0, set()
    for entry in path.iterdir():
        if skip and entry.name.startswith(skip):
            continue
        items = [entry] if not entry.is_dir() or entry.is_symlink() else [entry, *entry.rglob("*")]
        for p in items:
            st = p.lstat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total // 1024


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def engine() -> str | None:
    for exe in ("podman", "docker"):
        path = shutil.which(exe)
        if path and subprocess.run([path, "info"], capture_output=True).returncode == 0:
            return path
    return None


def section_footprint(cfg: argparse.Namespace, res: dict) -> None:
    log("section 5: footprint")
    out: dict = {
        "shim_venv_kib": du_kib(site_packages(SHIM_VENV), SKIP_DIRS),
        "fk_venv_kib": du_kib(site_packages(FK_VENV), SKIP_DIRS),
    }
    eng = engine()
    out["engine"] = eng
    if eng:
        r = subprocess.run(
            [sys.executable, "-c", "from shim.images import IMAGES; print(IMAGES['sqlite3'].tag)"],
            capture_output=True,
            text=True,
        )
        tag = r.stdout.strip() or "shimkit-sqlite3:0.1.0"
        out["image"] = tag
        insp = subprocess.run(
            [eng, "image", "inspect", "--format", "{{.Size}}", tag], capture_output=True, text=True
        )
        if insp.returncode == 0:
            out["image_bytes"] = int(insp.stdout.strip().splitlines()[0])
            du = subprocess.run(
                [eng, "run", "--rm", "--entrypoint", "du", tag, "-sk", "/opt/shim"],
                capture_output=True,
                text=True,
            )
            if du.returncode == 0:
                out["image_venv_kib"] = int(du.stdout.split()[0])
            base = subprocess.run(
                [eng, "image", "inspect", "--format", "{{.Size}}", "python:3.11-slim-bookworm"],
                capture_output=True,
                text=True,
            )
            if base.returncode == 0:
                out["base_bytes"] = int(base.stdout.strip().splitlines()[0])
        else:
            out["image_missing"] = insp.stderr.strip()[-300:]
    res["footprint"] = out


# --- report ------------------------------------------------------------------------------------


def section_connectors(cfg: argparse.Namespace, res: dict) -> None:
    """The local connector loop's overhead per poll; the service's CreateTask/GetTask latency.

    Runs ``bench/connectors.py`` with the dev venv's interpreter (the service needs grpcio,
    which the image-like shim-venv does not install)."""
    log("section 6: connectors: local loop overhead, service latency on loopback")
    args = ["--calls", str(cfg.conn_calls), "--polls", str(cfg.conn_polls)]
    proc = subprocess.run(
        [str(DEV_PY), str(BENCH / "connectors.py"), *args],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench/connectors.py failed:\n{proc.stderr[-3000:]}")
    res["connectors"] = json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "shim", "executors"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "flytekit": version_in(FK_VENV, "flytekit"),
        "fk_pandas": version_in(FK_VENV, "pandas"),
        "fk_pyarrow": version_in(FK_VENV, "pyarrow"),
        "shimkit": version_in(SHIM_VENV, "shimkit"),
        "pyarrow": version_in(SHIM_VENV, "pyarrow"),
        "s3fs": version_in(SHIM_VENV, "s3fs"),
        "adbc": version_in(FLOOR_VENV, "adbc-driver-sqlite"),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": rev + (" + uncommitted changes" if dirty else ""),
        "load_end": os.getloadavg(),
    }


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_s(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def _load(avg: tuple[float, ...]) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


def _rows(key: str) -> str:
    size, _, zipped = key.partition(" ")
    return f"{size} rows" + (f", {zipped}" if zipped else "")


def report(cfg: argparse.Namespace, res: dict, m: dict, took: float) -> str:
    H = ["", "shimkit", "flytekit 1.16", "ratio", "target", "met?"]
    md = [
        "# Benchmarks: shimkit vs flytekit 1.16",
        "",
        f"Generated by `{'bench/run.py --quick' if cfg.quick else 'make bench'}` "
        f"in {took / 60:.1f} min. Do not edit by hand.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['memory']}; kernel {m['kernel']} "
        f"({m['os']})",
        f"- Python {m['python']}; shimkit {m['shimkit']} (commit {m['commit']}) with pyarrow "
        f"{m['pyarrow']}, s3fs {m['s3fs']}; flytekit {m['flytekit']} with pandas "
        f"{m['fk_pandas']}, pyarrow {m['fk_pyarrow']}; floor: adbc-driver-sqlite {m['adbc']}",
        f"- Date: {m['date']}",
        *(
            [
                f"- Load average (1/5/15 min) at start {_load(res['load_start'])}, at end "
                f"{_load(m['load_end'])}: other work on the machine inflates both sides; the "
                "ratios come from the same run"
            ]
            if "load_start" in res and "load_end" in m
            else []
        ),
        "",
        "## Method",
        "",
        "Every figure is a fresh process started by `bench/run.py`; wall = `time.perf_counter()`"
        " around the process, peak RSS = the child's `ru_maxrss` from `os.wait4`, both taken in"
        " a small fork/exec launcher (a child started by a large process would report that"
        " process's pre-exec high-water mark). The commands compared in a table run"
        " **interleaved** (round i runs each of them once), warm-up round(s)"
        " first, then the **median** of N rounds. Both sides run the real entrypoint on a template"
        " serialized by their own framework (`shim.to_bytes` / flytekit's `get_serializable`), "
        "with inputs.pb staged by their own type engine and the template's container args "
        "rendered with local paths (`file`-system prefixes). shimkit runs in "
        "`bench/.work/shim-venv` (`pip install '.[s3,dataframe]' executors/sqlite3 "
        "executors/sqlalchemy`, the images' content: no pandas), flytekit in "
        "`bench/.work/flytekit-venv` (`flytekit==1.16.*`, pandas, pyarrow; "
        "`flytekitplugins-sqlalchemy` and psycopg for section 4). `shim execute` runs "
        "without `--supervise` (the default outside images) except in the row that says so "
        "(the images set `SHIM_SUPERVISE=1`: a parent process watches the worker).",
        "",
    ]
    if "cold" in res:
        c = res["cold"]
        st, imp = c["stats"], c["imports"]
        rows = [
            target_row(
                "wall, `shim execute` vs `pyflyte-execute`",
                st["shim"].wall,
                st["flytekit"].wall,
                "{:.3f} s",
                0.15,
            ),
            target_row(
                "wall, `shim execute --supervise` (what the images run) vs `pyflyte-execute`",
                st["shim supervised"].wall,
                st["flytekit"].wall,
                "{:.3f} s",
                0.2,
            ),
            target_row(
                "wall, `python -m shim execute`",
                st["shim -m"].wall,
                st["flytekit"].wall,
                "{:.3f} s",
                None,
            ),
            target_row("peak RSS", st["shim"].rss_mib, st["flytekit"].rss_mib, "{:.0f} MiB", None),
            target_row("modules imported", imp["shim"][0], imp["flytekit"][0], "{:.0f}", None),
            Row(
                "floor: `python -c pass`",
                f"{st['floor'].wall:.3f} s, {st['floor'].rss_mib:.0f} "
                f"MiB, {imp['floor'][0]} modules",
                "",
                None,
                "",
                None,
            ),
            Row(
                "shimkit above the floor",
                f"{st['shim'].wall - st['floor'].wall:.3f} s",
                f"{st['flytekit'].wall - st['floor'].wall:.3f} s",
                (st["shim"].wall - st["floor"].wall) / (st["flytekit"].wall - st["floor"].wall),
                "",
                None,
            ),
        ]
        md += [
            "## 1. Entrypoint cold start",
            "",
            f"A no-op executor (returns its one int input as its one int output), same template "
            f"shape on both sides; {c['warmup']} warm-up runs, median of {c['runs']}.",
            "",
            table(H, [r.cells() for r in rows]),
            "",
            "Slowest top-level imports (`python -X importtime`, cumulative):",
            "",
            f"- shimkit: {', '.join(f'{n} {t * 1000:.0f} ms' for n, t in imp['shim'][1])}",
            f"- flytekit: {', '.join(f'{n} {t * 1000:.0f} ms' for n, t in imp['flytekit'][1])}",
            "",
        ]
    if "sqlite" in res:
        rows, frows = [], []
        fk_targets = {"1k": 0.25, "1m": 0.35}
        for key, st in res["sqlite"].items():
            label = key.split()[0].lower()
            s, fl = st["shim"], st["floor"]
            if "flytekit" in st:
                f = st["flytekit"]
                lim = fk_targets.get(label)
                rows.append(
                    target_row(f"{_rows(key)}: wall", s.wall, f.wall, "{:.3f} s", lim).cells()
                )
                if "dropin" in st:
                    rows.append(
                        target_row(
                            f"{_rows(key)}, flytekit's template through shimkit: wall",
                            st["dropin"].wall,
                            f.wall,
                            "{:.3f} s",
                            lim,
                        ).cells()
                    )
                rows.append(
                    target_row(
                        f"{_rows(key)}: peak RSS",
                        s.rss_mib,
                        f.rss_mib,
                        "{:.0f} MiB",
                        0.25 if label == "1m" else None,
                    ).cells()
                )
            else:
                rows.append(
                    Row(
                        f"{_rows(key)}: wall (flytekit not run at this size)",
                        f"{s.wall:.3f} s",
                        "",
                        None,
                        "",
                        None,
                    ).cells()
                )
                rows.append(
                    Row(
                        f"{_rows(key)}: peak RSS (flytekit not run at this size)",
                        f"{s.rss_mib:.0f} MiB",
                        "",
                        None,
                        "≤ 150 MiB",
                        s.rss_mib <= 150,
                    ).cells()
                )
            lim = 1.2 if label in ("1m", "10m") else None
            r = target_row(f"{_rows(key)}: wall vs floor", s.wall, fl.wall, "{:.3f} s", lim)
            frows.append([*r.cells()[:2], f"{fl.wall:.3f} s, {fl.rss_mib:.0f} MiB", *r.cells()[3:]])
        n = ", ".join(f"{cfg.sql_runs[k]} at {k}" for k, _ in cfg.sizes)
        md += [
            "## 2. SQLite3 task end to end through the entrypoint",
            "",
            f"Query `{SQL}` with `min_id=0` on a table of 5 columns (int key, real, two texts, "
            "nullable int), result written as parquet to the raw output prefix; plain database "
            "file and zipped (`compressed=True`). shimkit: `SQLite3Task` via `shim execute`; "
            "flytekit: `flytekit.extras.sqlite3.task.SQLite3Task` via `pyflyte-execute` "
            "(default `FlyteSchema` output); *flytekit's template through shimkit*: the same "
            "task.pb and inputs.pb that flytekit ran, given to `shim execute` (the drop-in case: "
            "an image whose `pyflyte-execute` is shimkit's; its executor path resolves through "
            "the `shim.executor_aliases` entry point). Per size the commands run interleaved: "
            f"one warm-up round, then the median of {n} rounds. At 10M rows only shimkit and "
            "the floor run (flytekit would need ~5 GB and ~30 s a run).",
            "",
            table(H, rows),
            "",
            "Against the floor: the same query read by `adbc_driver_sqlite.dbapi` "
            "(`fetch_arrow_table`) and written by `pyarrow.parquet.write_table` in a plain script "
            "(`bench/floor.py` in `bench/.work/floor-venv`, which holds only adbc-driver-sqlite "
            "and pyarrow; the zipped case unzips with `zipfile` first). The floor holds the "
            "whole result in memory; shimkit streams it. How other readers compare, and on "
            "which typing cases they go wrong: `bench/READERS.md` (`make bench-readers`).",
            "",
            table(["", "shimkit", "floor (ADBC + pyarrow)", "ratio", "target", "met?"], frows),
            "",
        ]
    if "large" in res:
        lg = res["large"]
        rows = []
        for kind, name in (("file", "File"), ("frame", "DataFrame")):
            o = lg[kind]
            mib = o["bytes"] / MIB
            rows.append(
                target_row(
                    f"{name} upload ({mib:.0f} MiB), MiB/s",
                    mib / o["up"],
                    mib / o["s3fs_up"],
                    "{:.0f}",
                    0.8,
                    True,
                ).cells()
            )
            rows.append(
                target_row(
                    f"{name} download, MiB/s",
                    mib / o["down"],
                    mib / o["s3fs_down"],
                    "{:.0f}",
                    0.8,
                    True,
                ).cells()
            )
        md += [
            "## 3. Large data through S3 (moto server on 127.0.0.1)",
            "",
            "Upload: `shim execute` with an executor returning a `File` / a `DataFrame` over a "
            "local file, outputs to `s3://` raw prefix; the upload time is the entrypoint's "
            "`write-outputs` phase (`SHIM_TIMINGS`: encode + upload + outputs.pb). Download: "
            "`File(uri).download()` / `DataFrame(uri).schema` (download, then the parquet footer) "
            "in a fresh process. Compared with `s3fs.S3FileSystem.put` / `get` of the same bytes, "
            "called directly (default settings), timed around the call in a fresh process. "
            f"Median of {lg['runs']} run(s) (1 GiB through moto is slow; no warm-up).",
            "",
            table(["", "shimkit", "s3fs direct", "ratio", "target", "met?"], rows),
            "",
        ]
    if "sqlalchemy" in res:
        sa = res["sqlalchemy"]
        rows = []
        for label, st in sa["sizes"].items():
            if label == "server":
                continue
            big = label == "1m"
            s_, f_ = st["shim"], st["flytekit"]
            rows.append(
                target_row(
                    f"{label.upper()} rows: wall",
                    s_.wall,
                    f_.wall,
                    "{:.3f} s",
                    0.4 if big else None,
                ).cells()
            )
            rows.append(
                target_row(
                    f"{label.upper()} rows: peak RSS",
                    s_.rss_mib,
                    f_.rss_mib,
                    "{:.0f} MiB",
                    0.25 if big else None,
                ).cells()
            )
        md += [
            "## 4. SQLAlchemy task on PostgreSQL",
            "",
            f"Query `{SQL}` with `min_id=0` on a PostgreSQL {sa['sizes'].get('server', '')} "
            "table of 7 columns (bigint key, double, two texts, nullable int, timestamptz, "
            "numeric(12,2)) on a throwaway local cluster (TCP on 127.0.0.1, password from the "
            "secret `_FSEC_BENCH_PASSWORD`). shimkit: `SQLAlchemyTask` via `shim execute` "
            "(server-side cursor, Arrow batches, parquet); flytekit: "
            "`flytekitplugins.sqlalchemy.SQLAlchemyTask` via `pyflyte-execute` (pandas "
            "`read_sql_query`, default `FlyteSchema` output), both with psycopg 3. Runs "
            f"interleaved (shimkit, flytekit, ...): one warm-up pair, then the median of "
            f"{sa['runs']}.",
            "",
            table(H, rows),
            "",
        ]
    if "footprint" in res:
        fp = res["footprint"]
        rows = [
            target_row(
                "installed size, fresh venv site-packages (pip/setuptools excluded)",
                fp["shim_venv_kib"] / 1024,
                fp["fk_venv_kib"] / 1024,
                "{:.0f} MiB",
                0.5,
            ).cells()
        ]
        notes = []
        if "image_venv_kib" in fp:
            rows.append(
                target_row(
                    f"Python environment in the image (`du -sk /opt/shim` in "
                    f"`{fp['image']}`) vs flytekit venv",
                    fp["image_venv_kib"] / 1024,
                    fp["fk_venv_kib"] / 1024,
                    "{:.0f} MiB",
                    0.5,
                ).cells()
            )
        if "image_bytes" in fp:
            base = fp.get("base_bytes")
            if base:
                est = base + fp["fk_venv_kib"] * 1024
                rows.append(
                    target_row(
                        "image size vs base image + flytekit venv (estimate)",
                        fp["image_bytes"] / MIB,
                        est / MIB,
                        "{:.0f} MiB",
                        0.5,
                    ).cells()
                )
            else:
                rows.append(
                    Row(
                        "image size", f"{fp['image_bytes'] / MIB:.0f} MiB", "", None, "", None
                    ).cells()
                )
            notes.append(
                f"Image `{fp['image']}` measured with `{Path(fp['engine']).name}`. No "
                "flytekit image can be pulled here (no registry), so its side is "
                "estimated as the local `python:3.11-slim-bookworm` base image plus the "
                "flytekit venv's site-packages."
            )
        else:
            notes.append(
                "No container engine reachable or no `shimkit-sqlite3` image built: "
                "image figures skipped, venv sizes only."
                + (f" ({fp.get('image_missing')})" if fp.get("image_missing") else "")
            )
        md += ["## 5. Footprint", "", table(H, rows), "", *notes, ""]
    if "connectors" in res:
        c = res["connectors"]
        lp, sv = c["loop"], c["service"]
        rows = [
            [
                "local loop: overhead per poll (no sleep)",
                f"{lp['per_poll'] * 1e6:.1f} µs",
                f"{lp['polls']} polls: {lp['run_n'] * 1000:.1f} ms; 1 poll: "
                f"{lp['run_1'] * 1000:.1f} ms (staging, state, outputs)",
            ],
        ]
        for name in ("CreateTask", "GetTask"):
            st = sv[name]
            rows.append(
                [
                    f"service: {name} latency, {st['calls']} calls",
                    f"p50 {st['p50'] * 1000:.2f} ms, p99 {st['p99'] * 1000:.2f} ms",
                    f"mean {st['mean'] * 1000:.2f} ms",
                ]
            )
        md += [
            "## 6. Connectors",
            "",
            "Local loop: a no-op connector (`bench/connector_noop.py`) answers RUNNING N times "
            "then SUCCEEDED, polled with no sleep between polls; overhead per poll = (time with "
            "N polls - time with 1 poll) / (N - 1), median of "
            f"{lp['runs']} runs each, interleaved: the loop's own work around `get`. Service: "
            "`shim connectors "
            "serve` with the same connector in its own process on 127.0.0.1, one client "
            "channel, 100 warm-up calls, then each call timed around the blocking stub call. "
            "Both in the dev venv (grpcio); no flytekit counterpart is measured (its agent "
            "loop sleeps 1 s between polls).",
            "",
            table(["", "shimkit", "detail"], rows),
            "",
        ]
    md += [
        "## Commands",
        "",
        "```",
        "make bench        # = .venv/bin/python bench/run.py",
        "bench/run.py --quick   # smoke check, < 2 min",
        "```",
        "",
    ]
    if "cold" in res:
        md += [
            "Cold start (one run; `N` is the run number):",
            "",
            "```",
            " ".join(res["cold"]["cmd_shim"]),
            " ".join(res["cold"].get("cmd_shim_sup", [])),
            " ".join(res["cold"]["cmd_fk"]),
            "```",
            "",
        ]
    if "cmd_sqlite_shim" in res:
        md += [
            "SQLite3, 1k rows, plain database (other sizes, zipped: other paths only); shimkit's "
            "template, flytekit's template through shimkit, flytekit:",
            "",
            "```",
            " ".join(res["cmd_sqlite_shim"]),
            " ".join(res.get("cmd_sqlite_dropin", [])),
            " ".join(res["cmd_sqlite_flytekit"]),
            f"{vpy(FLOOR_VENV)} bench/floor.py <db> <out.parquet> [--zip]",
            "```",
            "",
        ]
    if "cmd_sqlalchemy" in res:
        md += [
            "SQLAlchemy (PostgreSQL), one run:",
            "",
            "```",
            " ".join(res["cmd_sqlalchemy"]),
            " ".join(res["cmd_sqlalchemy_fk"]),
            "```",
            "",
        ]
    md += ["## Notes", "", *[f"- {n}" for n in NOTES], ""]
    text = "\n".join(md)
    return text.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")


NOTES: list[str] = []  # filled in by hand-written analysis below (see bench/analysis.py)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="reduced set for a smoke check")
    ap.add_argument(
        "--only",
        nargs="*",
        choices=["cold", "sqlite", "large", "footprint", "sqlalchemy", "connectors"],
    )
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="re-render RESULTS.md from the last full run's saved figures",
    )
    cfg = ap.parse_args()
    if cfg.quick:
        cfg.cold_runs = 3
        cfg.sizes = [("1k", 1000), ("100k", 100_000)]
        cfg.zip_modes = [False]
        cfg.sql_runs = {"1k": 2, "100k": 2}
        cfg.plain_only, cfg.big_sides = set(), ["shim"]
        cfg.large_bytes, cfg.large_runs = 64 * MIB, 1
        cfg.pg_sizes, cfg.pg_runs = [("100k", 100_000)], 2
        cfg.conn_calls, cfg.conn_polls = 200, 2000
    else:
        cfg.cold_runs = 9
        cfg.sizes = [("1k", 1000), ("100k", 100_000), ("1m", 1_000_000), ("10m", 10_000_000)]
        cfg.zip_modes = [False, True]
        cfg.sql_runs = {"1k": 7, "100k": 5, "1m": 5, "10m": 5}
        # 10M rows: plain database, shimkit's template and the floor only
        cfg.plain_only, cfg.big_sides = {"10m"}, ["shim"]
        cfg.large_bytes, cfg.large_runs = GIB, int(os.environ.get("BENCH_LARGE_RUNS", "2"))
        cfg.pg_sizes, cfg.pg_runs = [("100k", 100_000), ("1m", 1_000_000)], 5
        cfg.conn_calls, cfg.conn_polls = 1000, 10000
    sections = cfg.only or ["cold", "sqlite", "sqlalchemy", "large", "footprint", "connectors"]
    partial = cfg.quick or bool(cfg.only)
    saved = WORK / ("results-quick.pickle" if partial else "results.pickle")
    if cfg.report_only:
        res, m, took = pickle.loads(saved.read_bytes())
    else:
        t0 = time.perf_counter()
        if set(sections) - {"connectors"}:  # the connector figures run in the dev venv
            ensure_venvs()
        res = {"load_start": os.getloadavg()}
        funcs = {
            "cold": section_cold,
            "sqlite": section_sqlite,
            "large": section_large,
            "footprint": section_footprint,
            "sqlalchemy": section_sqlalchemy,
            "connectors": section_connectors,
        }
        for name in sections:
            funcs[name](cfg, res)
        m, took = machine(), time.perf_counter() - t0
        WORK.mkdir(parents=True, exist_ok=True)  # `--only connectors` creates nothing there
        saved.write_bytes(pickle.dumps((res, m, took)))
    from analysis import notes

    NOTES.extend(notes(res))
    text = report(cfg, res, m, took)
    target = WORK / "RESULTS-quick.md" if partial else BENCH / "RESULTS.md"
    target.write_text(text)
    print(text)
    log(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
