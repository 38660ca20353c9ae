"""A stand-in for Flyte's backend (propeller's agent plugin), for tests.

It does what the backend does with a connector service, as EXTENSION.md section 5 describes:

- ``submit``: CreateTask, *at least once* (``duplicate_create=True`` calls it twice, as a
  backend that crashed before persisting its state does), then persists the returned resource
  meta, the task category and the output prefix in a state file (its "plugin state");
- ``poll``: reads that file afresh each time (as a restarted backend would) and calls
  GetTask; UNAVAILABLE (the service is down) is tolerated and retried at the next tick, up to
  ``max_system_failures`` in a row; on SUCCEEDED it writes the returned outputs as
  ``<output prefix>/outputs.pb``, as the backend's output writer does;
- ``abort``: DeleteTask with the persisted resource meta.

Every RPC has a deadline (the backend's per-operation timeouts).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from shim import idl
from shim.connectors.base import is_terminal


@dataclass
class PollResult:
    phase: int
    state: int
    message: str
    outputs: Any
    polls: int
    unavailable: int


class PlatformStandIn:
    def __init__(
        self, target: Callable[[], str], state_file: Path, *, timeout: float = 10.0
    ) -> None:
        self._target = target  # the server's address may change between restarts
        self.state_file = Path(state_file)
        self.timeout = timeout
        self.create_calls = 0

    def _stub(self) -> tuple[Any, grpc.Channel]:
        channel = grpc.insecure_channel(self._target())
        return idl.agent_grpc.AsyncAgentServiceStub(channel), channel

    def submit(
        self,
        template: Any,
        inputs: Any,
        output_prefix: str,
        execution: Any,
        *,
        duplicate_create: bool = False,
    ) -> bytes:
        request = idl.CreateTaskRequest(
            template=template,
            inputs=inputs,
            output_prefix=output_prefix,
            task_execution_metadata=execution,
        )
        stub, channel = self._stub()
        try:
            meta = b""
            for _ in range(2 if duplicate_create else 1):
                self.create_calls += 1
                meta = stub.CreateTask(request, timeout=self.timeout).resource_meta
        finally:
            channel.close()
        self._persist(
            {
                "resource_meta": base64.b64encode(meta).decode(),
                "task_category": {"name": template.type, "version": template.task_type_version},
                "output_prefix": output_prefix,
            }
        )
        return meta

    def _persist(self, doc: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.state_file)

    def _load(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def get_once(self) -> Any:
        st = self._load()
        request = idl.GetTaskRequest(
            task_type=st["task_category"]["name"],
            task_category=idl.TaskCategory(**st["task_category"]),
            resource_meta=base64.b64decode(st["resource_meta"]),
            output_prefix=st["output_prefix"],
        )
        stub, channel = self._stub()
        try:
            return stub.GetTask(request, timeout=self.timeout).resource
        finally:
            channel.close()

    def poll(
        self,
        *,
        interval: float,
        deadline: float,
        between_polls: Callable[[int], None] | None = None,
        max_system_failures: int = 50,
    ) -> PollResult:
        """Poll until a terminal phase (or the deadline); ``between_polls(n)`` runs after the
        n-th answered poll (the tests kill and restart the server there)."""
        polls = unavailable = 0
        end = time.monotonic() + deadline
        while True:
            if time.monotonic() > end:
                raise TimeoutError(f"the job did not finish within {deadline}s ({polls} polls)")
            try:
                res = self.get_once()
            except grpc.RpcError as e:
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                unavailable += 1
                if unavailable > max_system_failures:
                    raise
                time.sleep(interval)
                continue
            polls += 1
            # RETRYABLE_FAILED arrives as phase UNDEFINED + state RETRYABLE_FAILURE
            retryable = res.state == idl.AgentState.Value("RETRYABLE_FAILURE") and not res.phase
            if is_terminal(res.phase) or retryable:
                outputs = None
                if res.HasField("outputs"):
                    outputs = res.outputs
                    out = Path(self._load()["output_prefix"].removeprefix("file://"))
                    out.mkdir(parents=True, exist_ok=True)
                    (out / "outputs.pb").write_bytes(idl.serialize(res.outputs))
                return PollResult(res.phase, res.state, res.message, outputs, polls, unavailable)
            if between_polls is not None:
                between_polls(polls)
            time.sleep(interval)

    def abort(self) -> None:
        st = self._load()
        stub, channel = self._stub()
        try:
            stub.DeleteTask(
                idl.DeleteTaskRequest(
                    task_type=st["task_category"]["name"],
                    task_category=idl.TaskCategory(**st["task_category"]),
                    resource_meta=base64.b64decode(st["resource_meta"]),
                ),
                timeout=self.timeout,
            )
        finally:
            channel.close()
