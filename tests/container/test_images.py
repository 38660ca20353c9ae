"""shimkit's images build, are lean and safe to run; the container runner cleans up after itself."""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shim.images import IMAGES, VERSION
from shim.local.container import (
    ContainerRunError,
    forwarded_env,
    run_container,
    run_task_in_container,
)
from shim.local.staging import render_args

pytestmark = pytest.mark.container

IMAGE_NAMES = ["base", "sqlite3"]
Leftovers = Callable[[tuple[str, str]], list[Any]]


@pytest.fixture(params=IMAGE_NAMES)
def image(request: pytest.FixtureRequest) -> str:
    """Each shipped image in turn (built once per session)."""
    return request.getfixturevalue(f"{request.param}_image")


def _run(client: Any, image: str, args: list[str], **kw: Any) -> Any:
    return run_container(image, args, client=client, timeout=kw.pop("timeout", 120), **kw)


# --- the images ------------------------------------------------------------------------------


def test_both_images_build(docker_client: Any, base_image: str, sqlite3_image: str) -> None:
    assert base_image == IMAGES["base"].tag
    assert sqlite3_image == IMAGES["sqlite3"].tag
    for tag in (base_image, sqlite3_image):
        assert docker_client.images.get(tag).id


def test_runs_as_non_root_with_a_writable_home(docker_client: Any, image: str) -> None:
    res = _run(
        docker_client,
        image,
        ["sh", "-c", "id -u; id -g; pwd; echo $HOME; touch $HOME/x /tmp/y && echo ok"],
    )
    assert res.exit_code == 0, res.logs
    uid, gid, cwd, home, ok = res.logs.split()
    assert (uid, gid) == ("1000", "1000")
    assert cwd == home == "/home/shim"
    assert ok == "ok"


def test_no_entrypoint_and_runtime_env(docker_client: Any, image: str) -> None:
    config = docker_client.images.get(image).attrs["Config"]
    assert config.get("Entrypoint") in (None, [], [""])
    env = dict(e.split("=", 1) for e in config.get("Env") or [])
    assert env.get("SHIM_SUPERVISE") == "1"
    assert env["PATH"].split(":")[0] == "/opt/shim/bin"
    assert config.get("User") in ("1000", "1000:1000", "shim")


def test_oci_labels(docker_client: Any, image: str) -> None:
    labels = docker_client.images.get(image).attrs["Config"].get("Labels") or {}
    for key in ("title", "description", "source", "version", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.title"] == image.split(":")[0]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_venv_is_read_only_and_precompiled(docker_client: Any, image: str) -> None:
    script = (
        "import os, pathlib, shim\n"
        "pkg = pathlib.Path(shim.__file__).parent\n"
        "assert str(pkg).startswith('/opt/shim/'), pkg\n"
        "assert not os.access('/opt/shim', os.W_OK)\n"
        "pycs = list((pkg / '__pycache__').glob('*.pyc'))\n"
        "assert pycs, 'no bytecode'\n"
        # PEP 552 flags: 0b01 = hash-based, unchecked -> valid whatever the file times
        "assert {int.from_bytes(p.read_bytes()[4:8], 'little') for p in pycs} == {1}\n"
        "print('ok')\n"
    )
    res = _run(docker_client, image, ["python", "-c", script])
    assert res.exit_code == 0, res.logs
    assert res.logs.strip() == "ok"


def test_pyflyte_execute_help(docker_client: Any, image: str) -> None:
    res = _run(docker_client, image, ["pyflyte-execute", "--help"])
    assert res.exit_code == 0, res.logs
    assert "--inputs" in res.logs


def test_shim_help(docker_client: Any, image: str) -> None:
    res = _run(docker_client, image, ["shim", "--help"])
    assert res.exit_code == 0, res.logs
    assert "execute" in res.logs


def test_base_image_is_lean(docker_client: Any, base_image: str) -> None:
    script = (
        "import importlib.util as u\n"
        "print([m for m in ('pyarrow', 'pandas', 'docker', 'pip', 'setuptools', 'shim_sqlite3')"
        " if u.find_spec(m)])\n"
        "print(bool(u.find_spec('s3fs')))\n"
    )
    res = _run(docker_client, base_image, ["python", "-c", script])
    assert res.exit_code == 0, res.logs
    # pip stays, so that images built FROM this one can `pip install` their executor
    assert res.logs.split("\n")[:2] == ["['pip']", "True"]


def test_sqlite3_image_has_no_build_tools(docker_client: Any, sqlite3_image: str) -> None:
    script = (
        "import importlib.util as u\nprint([m for m in ('pip', 'setuptools') if u.find_spec(m)])"
    )
    res = _run(docker_client, sqlite3_image, ["python", "-c", script])
    assert res.exit_code == 0, res.logs
    assert res.logs.strip() == "[]"


def test_sqlite3_image_has_its_dependencies(docker_client: Any, sqlite3_image: str) -> None:
    # the executor's own dependencies (shimkit-sqlite3 declares pyarrow; it reads SQLite with
    # its own C reader over the system libsqlite3, not ADBC), s3fs for s3:// databases, and
    # its entry point
    script = (
        "import importlib.metadata as md\n"
        "import sqlite3, pyarrow, pyarrow.parquet, pyarrow.compute, s3fs, shim_sqlite3\n"
        "print(sorted(e.name for e in md.entry_points(group='shim.executors')))\n"
        "print(md.version('shimkit-sqlite3'), md.version('shimkit'))\n"
    )
    res = _run(docker_client, sqlite3_image, ["python", "-c", script])
    assert res.exit_code == 0, res.logs
    assert res.logs.splitlines()[0] == "['sqlite3']"


def test_sqlite3_image_has_the_native_reader_and_no_compiler(
    docker_client: Any, sqlite3_image: str
) -> None:
    """The reader is compiled in the build stage; the final image keeps the venv only."""
    script = (
        "import shutil\n"
        "from shim_sqlite3 import _native, reader\n"
        "print(reader._engine(None), shutil.which('gcc') or shutil.which('cc'))\n"
    )
    res = _run(docker_client, sqlite3_image, ["python", "-c", script])
    assert res.exit_code == 0, res.logs
    assert res.logs.splitlines()[0] == "native None"


# --- run_container: the container is removed on every path ------------------------------------


def test_removed_after_success(
    docker_client: Any, base_image: str, run_label: tuple[str, str], leftovers: Leftovers
) -> None:
    res = _run(
        docker_client,
        base_image,
        ["sh", "-c", "echo to-out; echo to-err >&2"],
        labels=dict([run_label]),
    )
    assert (res.exit_code, res.timed_out) == (0, False)
    assert "to-out" in res.logs and "to-err" in res.logs
    assert leftovers(run_label) == []


def test_removed_after_failure(
    docker_client: Any, base_image: str, run_label: tuple[str, str], leftovers: Leftovers
) -> None:
    res = _run(
        docker_client, base_image, ["sh", "-c", "echo boom >&2; exit 3"], labels=dict([run_label])
    )
    assert (res.exit_code, res.timed_out) == (3, False)
    assert "boom" in res.logs
    assert leftovers(run_label) == []


def test_removed_after_timeout(
    docker_client: Any, base_image: str, run_label: tuple[str, str], leftovers: Leftovers
) -> None:
    start = time.monotonic()
    res = _run(
        docker_client,
        base_image,
        ["sh", "-c", "echo started; sleep 60"],
        timeout=2,
        labels=dict([run_label]),
    )
    assert res.timed_out
    assert res.exit_code != 0
    assert "started" in res.logs
    assert time.monotonic() - start < 40
    assert leftovers(run_label) == []


def test_removed_after_interrupt(
    docker_client: Any,
    base_image: str,
    run_label: tuple[str, str],
    leftovers: Leftovers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from docker.models.containers import Container

    def interrupted(self: Any, **kw: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Container, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(docker_client, base_image, ["sleep", "60"], labels=dict([run_label]))
    monkeypatch.undo()
    assert leftovers(run_label) == []


def test_command_not_found(
    docker_client: Any, base_image: str, run_label: tuple[str, str], leftovers: Leftovers
) -> None:
    with pytest.raises(ContainerRunError, match="no-such-command"):
        _run(docker_client, base_image, ["no-such-command"], labels=dict([run_label]))
    assert leftovers(run_label) == []


def test_missing_image(docker_client: Any) -> None:
    with pytest.raises(ContainerRunError, match="not found"):
        _run(docker_client, "shimkit-no-such-image:never", ["true"])


def test_env_and_mounts(docker_client: Any, base_image: str, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("hello")
    tmp_path.chmod(0o755)  # readable by the image's user (uid 1000)
    res = _run(
        docker_client,
        base_image,
        ["sh", "-c", 'cat /data/in.txt; echo " $GREETING"'],
        env={"GREETING": "world"},
        mounts=[(str(tmp_path), "/data", "ro")],
    )
    assert res.exit_code == 0, res.logs
    assert res.logs.strip() == "hello world"


# --- run_task_in_container: staging dir at the same path, host network, forwarded env ----------


def test_stage_dir_is_shared_at_the_same_path(
    docker_client: Any, base_image: str, tmp_path: Path
) -> None:
    stage = tmp_path / "stage"
    (stage / "inputs").mkdir(parents=True)
    (stage / "inputs" / "inputs.pb").write_bytes(b"\x01\x02")
    out = stage / "outputs" / "result.txt"
    script = f"cat {stage}/inputs/inputs.pb > /dev/null && mkdir -p {out.parent} && id -u > {out}"
    res = run_task_in_container(
        base_image,
        ["sh", "-c", script],
        stage_dir=str(stage),
        env={},
        timeout=120,
        client=docker_client,
    )
    assert res.exit_code == 0, res.logs
    uid = out.read_text().strip()
    assert uid == ("1000" if os.getuid() == 0 else str(os.getuid()))
    # the host user can clean up whatever the container wrote
    out.unlink()
    out.parent.rmdir()


def test_stage_dir_as_file_url(docker_client: Any, base_image: str, tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    res = run_task_in_container(
        base_image,
        ["sh", "-c", f"echo x > {stage}/f"],
        stage_dir=f"file://{stage}",
        env={},
        timeout=120,
        client=docker_client,
    )
    assert res.exit_code == 0, res.logs
    assert (stage / "f").read_text() == "x\n"


@pytest.fixture
def loopback_http() -> Iterator[str]:
    """An HTTP server on the host's 127.0.0.1 (like moto in the S3 tests)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"from-the-host"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_host_network_and_forwarded_env(
    docker_client: Any,
    base_image: str,
    tmp_path: Path,
    loopback_http: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLYTE_AWS_ENDPOINT", loopback_http)
    monkeypatch.setenv("_FSEC_GROUP_KEY", "s3cret")
    monkeypatch.setenv("SHIM_NOT_FORWARDED", "1")
    script = (
        "import os, urllib.request\n"
        "print(urllib.request.urlopen(os.environ['FLYTE_AWS_ENDPOINT'], timeout=10).read()"
        ".decode())\n"
        "print(os.environ.get('_FSEC_GROUP_KEY'), os.environ.get('SHIM_NOT_FORWARDED'),"
        " os.environ.get('EXTRA'))\n"
    )
    res = run_task_in_container(
        base_image,
        ["python", "-c", script],
        stage_dir=str(tmp_path),
        env={"EXTRA": "given"},
        timeout=120,
        client=docker_client,
    )
    assert res.exit_code == 0, res.logs
    assert res.logs.split("\n")[:2] == ["from-the-host", "s3cret None given"]


# --- render_args and forwarded_env (no engine needed) ------------------------------------------


def test_render_args_substitutes_backend_variables() -> None:
    args = [
        "pyflyte-execute",
        "--inputs",
        "{{.input}}",
        "--output-prefix",
        "{{ .OutputPrefix }}",
        "--raw-output-data-prefix",
        "{{.rawOutputDataPrefix}}",
        "--checkpoint-path",
        "{{.checkpointOutputPrefix}}",
        "--prev-checkpoint",
        "{{ .prevCheckpointPrefix}}",
        "--",
        "{{.taskTemplatePath }}",
        "shim_sqlite3.SQLite3TaskExecutor",
    ]
    values = {
        "input": "/s/inputs.pb",
        "outputPrefix": "/s/out",
        "rawOutputDataPrefix": "/s/raw",
        "taskTemplatePath": "/s/task.pb",
        "checkpointOutputPrefix": "/s/cp",
        "prevCheckpointPrefix": '""',
    }
    assert render_args(args, values) == [
        "pyflyte-execute",
        "--inputs",
        "/s/inputs.pb",
        "--output-prefix",
        "/s/out",
        "--raw-output-data-prefix",
        "/s/raw",
        "--checkpoint-path",
        "/s/cp",
        "--prev-checkpoint",
        '""',
        "--",
        "/s/task.pb",
        "shim_sqlite3.SQLite3TaskExecutor",
    ]


def test_render_args_leaves_unknown_and_dotted_placeholders() -> None:
    args = ["{{.unknown}}", "x={{ .inputs.limit }}", "{{input}}", "a{{.INPUT}}b{{.input}}c"]
    assert render_args(args, {"input": "I"}) == [
        "{{.unknown}}",
        "x={{ .inputs.limit }}",
        "{{input}}",
        "aIbIc",
    ]


def test_forwarded_env_selects_storage_and_secrets() -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": "a",
        "FLYTE_AWS_ENDPOINT": "http://e",
        "_FSEC_A_B": "s",
        "AWS_CA_BUNDLE": "/host/path",
        "HOME": "/root",
        "PATH": "/bin",
    }
    assert forwarded_env(environ) == {
        "AWS_ACCESS_KEY_ID": "a",
        "FLYTE_AWS_ENDPOINT": "http://e",
        "_FSEC_A_B": "s",
    }
