"""Connector figures: the local loop's overhead per poll, and the service's CreateTask /
GetTask latency on loopback. Prints one JSON object (``bench/run.py`` renders it).

- loop: a no-op connector (``bench/connector_noop.py``) answers RUNNING N times then
  SUCCEEDED, polled with no sleep between polls (``PollPolicy(first=0, factor=1,
  max_interval=0)``); overhead per poll = (time with N polls - time with 1 poll) / (N - 1),
  i.e. the loop's own work around ``get`` (deadline checks, phase bookkeeping, the event
  loop), not a sleep. Median of 5 runs each, the two kinds interleaved. N is large (10,000;
  2,000 with ``--quick``) because a run's fixed cost (~50-100 ms: staging, the run record,
  outputs) varies by more than a few hundred polls cost.
- service: ``shim connectors serve -m connector_noop`` in its own process on 127.0.0.1; one
  client channel; after 100 warm-up calls, each of 1,000 CreateTask then 1,000 GetTask calls
  is timed with ``time.perf_counter`` around the blocking stub call; p50 / p99.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))


def loop_overhead(polls: int, runs: int) -> dict:
    import connector_noop

    from shim.connectors import AsyncConnectorExecutorMixin, PollPolicy
    from shim.connectors.local import run_connector_task
    from shim.task.interface import NativeInterface
    from shim.task.template import TaskTemplate

    class Noop(AsyncConnectorExecutorMixin, TaskTemplate):
        poll_policy = PollPolicy(first=0.0, factor=1.0, max_interval=0.0, jitter=0.0)

        def __init__(self, n: int) -> None:
            self.n = n
            super().__init__(
                name=f"bench.noop{n}",
                task_type=connector_noop.TASK_TYPE,
                interface=NativeInterface({}, {"y": int}),
            )

        def custom_config(self, sctx):
            return {"polls": self.n}

    def timed(n: int) -> float:
        store = tempfile.mkdtemp(prefix="shim-bench-conn-")
        t0 = time.perf_counter()
        assert run_connector_task(Noop(n), {}, store=store) == 1
        return time.perf_counter() - t0

    timed(1)  # warm-up: imports
    ones, manys = [], []
    for _ in range(runs):  # interleaved: drift in the machine's load hits both alike
        ones.append(timed(1))
        manys.append(timed(polls))
    one, many = statistics.median(ones), statistics.median(manys)
    return {
        "polls": polls,
        "runs": runs,
        "run_1": one,
        "run_n": many,
        "per_poll": (many - one) / (polls - 1),
    }


def service_latency(calls: int, warmup: int) -> dict:
    import grpc

    from shim import idl

    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the server process writes it
        prefix="shim-bench-serve-", suffix=".log", delete=False
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(BENCH), str(ROOT)]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shim",
            "connectors",
            "serve",
            "--port",
            "0",
            "-m",
            "connector_noop",
        ],
        stdout=log,
        stderr=log,
        env=env,
        cwd=BENCH,
    )
    try:
        port = None
        end = time.monotonic() + 60
        while port is None:
            found = re.findall(r"listening on [^ ]+:(\d+)", Path(log.name).read_text())
            if found:
                port = int(found[-1])
            elif proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(Path(log.name).read_text())
            time.sleep(0.05)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = idl.agent_grpc.AsyncAgentServiceStub(channel)
        tt = idl.TaskTemplate(type="bench_noop")
        tt.custom.update({"polls": 0})
        tt.interface.outputs.variables["y"].type.simple = idl.SimpleType.Value("INTEGER")
        create = idl.CreateTaskRequest(template=tt, output_prefix="/tmp/out")
        meta = stub.CreateTask(create).resource_meta
        get = idl.GetTaskRequest(
            task_category=idl.TaskCategory(name="bench_noop"), resource_meta=meta
        )

        def measure(call, request) -> list[float]:
            for _ in range(warmup):
                call(request)
            out = []
            for _ in range(calls):
                t0 = time.perf_counter()
                call(request)
                out.append(time.perf_counter() - t0)
            return out

        result = {}
        for name, call, request in (
            ("CreateTask", stub.CreateTask, create),
            ("GetTask", stub.GetTask, get),
        ):
            xs = sorted(measure(call, request))
            result[name] = {
                "p50": xs[len(xs) // 2],
                "p99": xs[int(len(xs) * 0.99) - 1],
                "mean": statistics.fmean(xs),
                "calls": calls,
            }
        channel.close()
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        os.unlink(log.name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--polls", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=100)
    cfg = ap.parse_args()
    out = {
        "loop": loop_overhead(cfg.polls, cfg.runs),
        "service": service_latency(cfg.calls, cfg.warmup),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
