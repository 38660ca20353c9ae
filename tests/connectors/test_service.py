"""`shim connectors serve` in its own process: the agent service, its status codes, every
documented phase mapping, metadata, health, TLS, graceful stop."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from shim import idl
from shim.connectors.base import Phase
from tests.connectors.conftest import child_env
from tests.connectors.filejobs import TASK_TYPE, all_records

MODULE = "tests.connectors.filejobs"


def template(jobs_dir: str, **custom) -> idl.TaskTemplate:
    tt = idl.TaskTemplate(type=TASK_TYPE)
    tt.id.name = "tests.service"
    tt.custom.update({"jobs_dir": jobs_dir, **custom})
    tt.interface.inputs.variables["n"].type.simple = idl.SimpleType.Value("INTEGER")
    tt.interface.outputs.variables["total"].type.simple = idl.SimpleType.Value("INTEGER")
    return tt


def create_request(tt: idl.TaskTemplate, n: int = 1, name: str = "exec-1") -> idl.CreateTaskRequest:
    req = idl.CreateTaskRequest(template=tt, output_prefix="s3://bucket/out/1")
    req.inputs.literals["n"].scalar.primitive.integer = n
    ex = req.task_execution_metadata.task_execution_id.node_execution_id
    ex.execution_id.name = name
    ex.node_id = "n0"
    return req


def category(name: str = TASK_TYPE, version: int = 0) -> idl.TaskCategory:
    return idl.TaskCategory(name=name, version=version)


@pytest.fixture
def server(serve):
    return serve("-m", MODULE)


@pytest.fixture
def stub(server):
    channel = grpc.insecure_channel(server.target)
    yield idl.agent_grpc.AsyncAgentServiceStub(channel)
    channel.close()


def status_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code(), e.value.details()


# connector phase -> (phase on the wire, deprecated state on the wire); docs/connectors.md
PHASES = [
    ("QUEUED", "QUEUED", "PENDING"),
    ("WAITING_FOR_RESOURCES", "WAITING_FOR_RESOURCES", "PENDING"),
    ("INITIALIZING", "INITIALIZING", "PENDING"),
    ("RUNNING", "RUNNING", "RUNNING"),
    ("SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
    ("FAILED", "FAILED", "PERMANENT_FAILURE"),
    ("ABORTED", "ABORTED", "PERMANENT_FAILURE"),
    ("RETRYABLE_FAILED", "UNDEFINED", "RETRYABLE_FAILURE"),
]


def test_every_documented_phase_mapping(stub, jobs_dir):
    for i, (given, phase, state) in enumerate(PHASES):
        tt = template(jobs_dir, script=[given], outputs={"total": 9}, message=f"m-{given}")
        meta = stub.CreateTask(create_request(tt, name=f"exec-{i}")).resource_meta
        res = stub.GetTask(
            idl.GetTaskRequest(task_category=category(), resource_meta=meta)
        ).resource
        assert idl.TaskExecution.Phase.Name(res.phase) == phase, given
        assert idl.AgentState.Name(res.state) == state, given
        assert res.message == f"m-{given}"
        assert res.log_links[0].name == "job record"
        assert res.custom_info.fields["polls"].number_value == 1
        if given == "SUCCEEDED":
            assert res.outputs.literals["total"].scalar.primitive.integer == 9
        else:
            assert not res.HasField("outputs")
        if given in ("FAILED", "ABORTED", "RETRYABLE_FAILED"):
            assert res.agent_error.origin == idl.ErrorOrigin.Value("USER")
            recoverable = res.agent_error.kind == idl.AgentError.Kind.Value("RECOVERABLE")
            assert recoverable == (given == "RETRYABLE_FAILED")
        else:
            assert not res.HasField("agent_error")


def test_create_is_idempotent_on_the_execution_identity(stub, jobs_dir):
    tt = template(jobs_dir, script=["RUNNING"])
    first = stub.CreateTask(create_request(tt)).resource_meta
    again = stub.CreateTask(create_request(tt)).resource_meta  # the platform retried
    assert first == again and len(all_records(jobs_dir)) == 1
    stub.CreateTask(create_request(tt, name="exec-2"))
    assert len(all_records(jobs_dir)) == 2


def test_inputs_reach_create_as_python_values(stub, jobs_dir):
    stub.CreateTask(create_request(template(jobs_dir), n=41))
    (rec,) = all_records(jobs_dir)
    assert rec["inputs"] == {"n": 41}


def test_delete_cancels(stub, jobs_dir):
    meta = stub.CreateTask(create_request(template(jobs_dir, script=["RUNNING"]))).resource_meta
    stub.DeleteTask(idl.DeleteTaskRequest(task_category=category(), resource_meta=meta))
    stub.DeleteTask(idl.DeleteTaskRequest(task_category=category(), resource_meta=meta))
    (rec,) = all_records(jobs_dir)
    assert rec["deleted"] is True
    res = stub.GetTask(idl.GetTaskRequest(task_category=category(), resource_meta=meta)).resource
    assert res.phase == Phase.ABORTED


def test_status_codes(stub, jobs_dir):
    tt = template(jobs_dir)
    meta = stub.CreateTask(create_request(tt)).resource_meta
    unknown = idl.TaskTemplate(type="no_such_type")
    code, details = status_of(lambda: stub.CreateTask(idl.CreateTaskRequest(template=unknown)))
    assert code == grpc.StatusCode.NOT_FOUND and "no_such_type" in details
    code, _ = status_of(
        lambda: stub.GetTask(idl.GetTaskRequest(task_category=category("nope"), resource_meta=meta))
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, details = status_of(
        lambda: stub.GetTask(idl.GetTaskRequest(task_category=category(), resource_meta=b"garbage"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "not JSON" in details
    newer = b'{"@v": 7, "jobs_dir": "x", "job_id": "y"}'
    code, details = status_of(
        lambda: stub.GetTask(idl.GetTaskRequest(task_category=category(), resource_meta=newer))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "format version 7" in details
    failing = template(jobs_dir, create_error="warehouse said no")
    code, details = status_of(lambda: stub.CreateTask(create_request(failing, name="f")))
    assert code == grpc.StatusCode.INTERNAL and "warehouse said no" in details
    down = stub.CreateTask(
        create_request(template(jobs_dir, get_error_always=True), name="d")
    ).resource_meta
    code, details = status_of(
        lambda: stub.GetTask(idl.GetTaskRequest(task_category=category(), resource_meta=down))
    )
    assert code == grpc.StatusCode.INTERNAL and "the job service is down" in details
    refusing = stub.CreateTask(
        create_request(template(jobs_dir, delete_errors=1), name="r")
    ).resource_meta
    code, details = status_of(
        lambda: stub.DeleteTask(
            idl.DeleteTaskRequest(task_category=category(), resource_meta=refusing)
        )
    )
    assert code == grpc.StatusCode.INTERNAL and "refused to cancel" in details
    bad_inputs = create_request(tt, name="b")
    bad_inputs.inputs.literals["n"].scalar.primitive.string_value = "x"
    code, details = status_of(lambda: stub.CreateTask(bad_inputs))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "'n'" in details
    code, _ = status_of(
        lambda: stub.GetTaskMetrics(
            idl.GetTaskMetricsRequest(task_category=category(), resource_meta=meta)
        )
    )
    assert code == grpc.StatusCode.UNIMPLEMENTED
    # the old request shape: task_type instead of task_category
    res = stub.GetTask(idl.GetTaskRequest(task_type=TASK_TYPE, resource_meta=meta)).resource
    assert res.phase == Phase.SUCCEEDED


def test_logs_stream(stub, jobs_dir):
    meta = stub.CreateTask(create_request(template(jobs_dir))).resource_meta
    msgs = list(
        stub.GetTaskLogs(idl.GetTaskLogsRequest(task_category=category(), resource_meta=meta))
    )
    assert [list(m.body.results) for m in msgs] == [
        ["job " + all_records(jobs_dir)[0]["id"] + " polled 0 times"],
        ["second line", "third line"],
    ]


def test_metadata_and_health(server):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(server.target) as ch:
        md = idl.agent_grpc.AgentMetadataServiceStub(ch)
        agents = {a.name: a for a in md.ListAgents(idl.ListAgentsRequest()).agents}
        assert [(c.name, c.version) for c in agents["file-jobs"].supported_task_categories] == [
            (TASK_TYPE, 0)
        ]
        assert "container_job" in agents["docker"].supported_task_types  # entry point
        assert md.GetAgent(idl.GetAgentRequest(name="file-jobs")).agent.name == "file-jobs"
        code, _ = status_of(lambda: md.GetAgent(idl.GetAgentRequest(name="nope")))
        assert code == grpc.StatusCode.NOT_FOUND
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "flyteidl.service.AsyncAgentService"):
            resp = health.Check(health_pb2.HealthCheckRequest(service=service))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_secrets_come_from_the_servers_environment_and_never_leak(serve, jobs_dir):
    secret = "server-side-secret-9876"
    server = serve("-m", MODULE, env=child_env(_FSEC_SVC_TOKEN=secret))
    with grpc.insecure_channel(server.target) as ch:
        stub = idl.agent_grpc.AsyncAgentServiceStub(ch)
        ok = template(jobs_dir, secrets={"api_token": "svc/token"})
        stub.CreateTask(create_request(ok))
        import hashlib

        assert all_records(jobs_dir)[0]["token_sha"] == hashlib.sha256(secret.encode()).hexdigest()
        leaky = template(jobs_dir, leak=True, secrets={"api_token": "svc/token"})
        code, details = status_of(lambda: stub.CreateTask(create_request(leaky, name="l")))
        assert (
            code == grpc.StatusCode.INTERNAL and secret not in details and "[redacted]" in details
        )
        missing = template(jobs_dir, secrets={"api_token": "absent/key"})
        code, details = status_of(lambda: stub.CreateTask(create_request(missing, name="m")))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "_FSEC_ABSENT_KEY" in details
    server.stop()
    assert secret not in server.log.read_text()


def test_sigterm_stops_gracefully(server, jobs_dir):
    import time

    from tests.connectors.filejobs import count_calls

    channel = grpc.insecure_channel(server.target)
    stub = idl.agent_grpc.AsyncAgentServiceStub(channel)
    tt = template(jobs_dir, script=["SUCCEEDED"], outputs={"total": 5}, get_delay=2)
    meta = stub.CreateTask(create_request(tt)).resource_meta
    request = idl.GetTaskRequest(task_category=category(), resource_meta=meta)
    in_flight = stub.GetTask.future(request, timeout=60)
    deadline = time.monotonic() + 30
    while count_calls(jobs_dir, "get") < 1:  # the call is being served
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert server.stop() == 0  # SIGTERM while GetTask is in flight
    resource = in_flight.result().resource  # it was allowed to finish
    assert resource.phase == Phase.SUCCEEDED
    assert resource.outputs.literals["total"].scalar.primitive.integer == 5
    code, _ = status_of(lambda: stub.GetTask(request, timeout=5))
    assert code == grpc.StatusCode.UNAVAILABLE  # and then it was gone
    channel.close()
    assert "stopped" in server.log.read_text()


def test_it_is_stateless_across_restarts(server, jobs_dir):
    with grpc.insecure_channel(server.target) as ch:
        meta = (
            idl.agent_grpc.AsyncAgentServiceStub(ch)
            .CreateTask(
                create_request(
                    template(jobs_dir, script=["RUNNING", "SUCCEEDED"], outputs={"total": 3})
                )
            )
            .resource_meta
        )
    server.kill()
    server.start()  # same port
    with grpc.insecure_channel(server.target) as ch:
        stub = idl.agent_grpc.AsyncAgentServiceStub(ch)
        phases = [
            stub.GetTask(
                idl.GetTaskRequest(task_category=category(), resource_meta=meta)
            ).resource.phase
            for _ in range(2)
        ]
    assert phases == [Phase.RUNNING, Phase.SUCCEEDED]


def test_non_loopback_without_tls_is_refused():
    out = subprocess.run(
        [sys.executable, "-m", "shim", "connectors", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert out.returncode == 2 and "refusing to serve without TLS" in out.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls(serve, tmp_path):
    cert, key = _self_signed(tmp_path)
    server = serve("-m", MODULE, "--tls-cert", str(cert), "--tls-key", str(key))
    assert "(TLS)" in server.log.read_text()
    creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    target = f"localhost:{server.port}"
    with grpc.secure_channel(target, creds) as ch:
        agents = idl.agent_grpc.AgentMetadataServiceStub(ch).ListAgents(idl.ListAgentsRequest())
        assert any(a.name == "file-jobs" for a in agents.agents)
    with grpc.insecure_channel(target) as ch:  # plaintext is not answered
        code, _ = status_of(
            lambda: idl.agent_grpc.AgentMetadataServiceStub(ch).ListAgents(
                idl.ListAgentsRequest(), timeout=5
            )
        )
        assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
