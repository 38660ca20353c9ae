"""Executors that misbehave on purpose: die, crash, stall, leak memory, handle secrets.

Importable by path from the ``shim execute`` subprocesses the tests start (the repository is
on ``PYTHONPATH``). Data they produce is a pure function of their inputs, so that a test can
check every byte of what was uploaded.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from pathlib import Path

from shim import DataFrame, Directory, File, ShimTaskExecutor
from shim.runtime import current_context

#: the executors append to this file when they reach a point a test waits for
READY_ENV = "REL_READY_FILE"


def ready(what: str = "ready") -> None:
    path = os.environ.get(READY_ENV)
    if path:
        with open(path, "a") as f:
            f.write(what + "\n")


def blob(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes (``size`` of them) for ``seed``."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest() * 64
        counter += 1
    return bytes(out[:size])


def table(part: int, rows: int):
    import pyarrow as pa

    start = part * rows
    return pa.table(
        {
            "id": pa.array(range(start, start + rows), pa.int64()),
            "text": pa.array([f"row-{i:08d}" for i in range(start, start + rows)]),
        }
    )


class BigOutputs(ShimTaskExecutor):
    """Outputs a File of ``file_kb`` KiB, a Directory of ``files`` files of 32 KiB and a
    DataFrame of ``parts`` parquet files of 2000 rows: many uploads to be killed in."""

    def execute_from_model(self, tt, **inputs):
        import pyarrow.parquet as pq

        work = Path(current_context().working_dir)
        f = work / "big.bin"
        f.write_bytes(blob("file", inputs["file_kb"] * 1024))
        d = work / "tree"
        for i in range(inputs["files"]):
            sub = d / f"s{i % 4}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"part-{i:04d}.bin").write_bytes(blob(f"tree{i}", 32 * 1024))
        df = work / "df"
        df.mkdir()
        for p in range(inputs["parts"]):
            pq.write_table(table(p, 2000), df / f"{p:05d}")
        ready("uploading")
        return {"f": File(str(f)), "d": Directory(str(d)), "df": DataFrame(str(df))}


class PrintsThenDies(ShimTaskExecutor):
    """Prints ``lines`` numbered lines on stdout and stderr, then dies as ``how`` says:
    ``kill`` (SIGKILL), ``segv`` (a real segmentation fault), ``abort``, ``exit3``
    (``os._exit(3)``), ``exit0`` (``os._exit(0)``), ``oom`` (bumps the fake OOM counter, then
    SIGKILL)."""

    def execute_from_model(self, tt, **inputs):
        n = inputs.get("lines", 5)
        for i in range(n):
            print(f"out line {i}", flush=False)
            print(f"err line {i}", file=sys.stderr, flush=False)
        print("last words on stdout")
        print("last words on stderr", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        how = inputs["how"]
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif how == "segv":
            import ctypes

            ctypes.string_at(0)
        elif how == "abort":
            os.abort()
        elif how == "exit3":
            os._exit(3)
        elif how == "exit0":
            os._exit(0)
        elif how == "oom":
            path = os.environ["SHIM_OOM_EVENTS_FILE"]
            count = int(Path(path).read_text().split()[-1])
            Path(path).write_text(f"oom 1\noom_kill {count + 1}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(5)
        raise AssertionError(f"still alive after {how!r}")


class Hog(ShimTaskExecutor):
    """Allocates memory (touching every page) until the kernel kills it."""

    def execute_from_model(self, tt, **inputs):
        hoard = []
        print("allocating", flush=True)
        for _ in range(inputs.get("max_mb", 4096)):
            hoard.append(bytearray(1 << 20))
        return len(hoard)


class Sleeps(ShimTaskExecutor):
    """Sleeps ``seconds``; with ``ignore_term`` it ignores SIGTERM first (a worker stuck in
    native code behaves the same: the Python handler never runs)."""

    def execute_from_model(self, tt, **inputs):
        if inputs.get("ignore_term"):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("sleeping", flush=True)
        ready("sleeping")
        time.sleep(inputs["seconds"])
        return "woke up"


class UsesSecret(ShimTaskExecutor):
    """Reads secret ``group``/``key``; ``mode`` is ``ok`` (returns its length), ``fail``
    (raises after reading it) or ``leak`` (raises with the value in the message: the runtime
    must keep it out of what it prints and writes)."""

    def execute_from_model(self, tt, **inputs):
        value = current_context().secrets.get(inputs["group"], inputs["key"])
        mode = inputs["mode"]
        if mode == "fail":
            raise RuntimeError("the database refused the connection")
        if mode == "leak":
            raise PermissionError(f"login failed with password {value!r}")
        return len(value)


class LeaksSecret(ShimTaskExecutor):
    """Reads secret ``group``/``key`` and puts it in front of the runtime, as ``mode`` says:

    - ``message``: raises with the value in the message (a multi-line value stays multi-line);
    - ``repr``: raises with its ``repr()`` (newlines escaped as ``\\n``);
    - ``nested``: an inner exception carries the value, the outer one is raised from it;
    - ``print-die``: prints the value on stderr, then is killed (the supervisor's tail);
    - ``long-line-die``: prints one line of 490 characters followed by the value (so the
      tail's 500-character cut falls inside it), then is killed.
    """

    def execute_from_model(self, tt, **inputs):
        value = current_context().secrets.get(inputs["group"], inputs["key"])
        mode = inputs["mode"]
        if mode == "message":
            raise ValueError(f"cannot sign with key {value}")
        if mode == "repr":
            raise ValueError(f"cannot sign with key {value!r}")
        if mode == "nested":
            try:
                raise ConnectionError(f"handshake failed for credential {value}")
            except ConnectionError as inner:
                raise RuntimeError("could not connect to the warehouse") from inner
        if mode == "print-die":
            print(f"credential: {value}", file=sys.stderr, flush=True)
        elif mode == "long-line-die":
            print("x" * 490 + value + " and more", file=sys.stderr, flush=True)
        else:
            raise AssertionError(f"unknown mode {mode!r}")
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(5)
        raise AssertionError("still alive")


class BadOutputs(ShimTaskExecutor):
    """Returns a value its output type cannot encode, as ``what`` says: ``bigint`` (an
    untyped dict holding 2**64: msgpack overflows) or ``arrow`` (a pandas column mixing ints
    and strings: Arrow cannot convert it)."""

    def execute_from_model(self, tt, **inputs):
        if inputs["what"] == "bigint":
            return {"big": 2**64}
        import pandas as pd

        return pd.DataFrame({"a": [1, "x"]})


class Echo(ShimTaskExecutor):
    """Returns every input under the output of the same name (names may be anything)."""

    def execute_from_model(self, tt, **inputs):
        return dict(inputs)


class OneFile(ShimTaskExecutor):
    """Outputs one File of ``kb`` KiB."""

    def execute_from_model(self, tt, **inputs):
        f = Path(current_context().working_dir) / "one.bin"
        f.write_bytes(blob("one", inputs["kb"] * 1024))
        return File(str(f))
