"""Supervised execution: the work runs in a child process, so that its abrupt death is reported.

``shim execute --supervise`` (``SHIM_SUPERVISE=1``, the default in the images) imports the
runtime, then forks a child that runs the execution (as ``shim execute --no-supervise`` with
the same arguments would; forking after the imports spares a second interpreter start-up)
and:

- passes the child's stdout and stderr through unchanged, keeping the last
  :data:`TAIL_LINES` lines of each in a bounded ring buffer;
- follows the child's phase over a pipe (``SHIM_SUPERVISOR_FD``, one short line per phase
  change, written by :func:`shim.runtime.entrypoint.supervised_progress`);
- forwards SIGTERM and SIGINT to the child once, and kills it (SIGKILL) when it has not ended
  ``SHIM_TERM_GRACE`` seconds (default 10) later;
- when the child ends without having written outputs.pb or an error document (killed by a
  signal, crashed, exited), writes ``error.pb`` itself, naming the signal or exit status, the
  phase, and the last lines of output (secrets redacted).

How a death is classified (see docs/reliability.md for the reasoning):

==================================================  ====================  ================
child ended by                                      code                  kind
==================================================  ====================  ================
SIGKILL while the container's memory cgroup         ``USER:OOMKilled``    RECOVERABLE
counted a new OOM kill
SIGTERM/SIGINT the supervisor received and          ``SYSTEM:Terminated`` RECOVERABLE
forwarded (also when killed after the grace)
another signal from outside (SIGKILL, SIGTERM,      ``SYSTEM:WorkerKilled`` RECOVERABLE
SIGHUP, SIGQUIT, SIGUSR1, ...)
a crash signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE,    ``USER:WorkerCrashed`` in phase
SIGABRT, SIGSYS, SIGTRAP, SIGXCPU, SIGXFSZ)         'execute' (NON_RECOVERABLE), else
                                                    ``SYSTEM:WorkerCrashed`` (RECOVERABLE)
an exit without a report (``os._exit``, a broken    ``USER:WorkerExited`` in phase 'execute'
interpreter)                                        (NON_RECOVERABLE), else
                                                    ``SYSTEM:WorkerExited`` (RECOVERABLE)
==================================================  ====================  ================

The supervisor itself does nothing but wait on pipes: what it imports before forking is what
the child needs anyway, and storage is touched only when it has to write an error document.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from shim.runtime.phases import Event, Phase

if TYPE_CHECKING:
    from shim.runtime.args import ExecuteArgs

#: lines of each of the child's stdout and stderr kept for the error document
TAIL_LINES = 20
#: longest line shown in the error document (longer lines are cut, after redaction)
TAIL_LINE_BYTES = 500
#: longest line kept raw for redaction (the rest of a longer line is dropped)
TAIL_KEEP_BYTES = 8 * TAIL_LINE_BYTES
#: seconds the child has after a forwarded SIGTERM before it is killed
DEFAULT_TERM_GRACE = 10.0
#: seconds spent reading what is left in the pipes once the child has ended
DRAIN_SECONDS = 1.0

_CRASH_NAMES = ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGSYS", "SIGTRAP")
_CRASH_SIGNALS = frozenset(
    getattr(signal, n) for n in (*_CRASH_NAMES, "SIGXCPU", "SIGXFSZ") if hasattr(signal, n)
)
_FORWARDED = (signal.SIGTERM, signal.SIGINT)


def supervise_execute(argv: list[str], args: ExecuteArgs | None = None) -> int:
    """Run ``shim execute`` with ``argv`` (parsed: ``args``) in a supervised child; returns the
    exit status."""
    if args is None:
        from shim.runtime.args import parse_execute_args

        args = parse_execute_args(argv)
    if not args.output_prefix:  # nothing can be reported anywhere: let the entrypoint say so
        from shim.runtime.entrypoint import run

        return run(args, handle_sigterm=True)
    status = Supervisor(argv, args.output_prefix).run()
    # Done: the worker has ended and any error document is written. The supervisor runs no
    # task code, so nothing needs the interpreter's finalization (tearing down the runtime it
    # imported for the worker costs ~8 ms of a ~0.1 s cold start): flush and leave.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status & 0xFF)


class ForkedWorker:
    """The child: a fork of the supervisor that runs the execution unsupervised.

    Offers what the supervisor uses of ``subprocess.Popen``: ``pid``, ``stdout``/``stderr``
    (read ends of the child's fds 1 and 2), ``poll()``, ``wait()``, ``returncode`` (negative
    signal number when killed by a signal).
    """

    def __init__(self, pid: int, stdout: Any, stderr: Any) -> None:
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None

    @classmethod
    def start(cls, argv: list[str], phase_fd: int) -> ForkedWorker:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child ends in os._exit (covered by subprocess tests)
            os.close(out_r)
            os.close(err_r)
            _run_child(argv, phase_fd, out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        return cls(pid, os.fdopen(out_r, "rb", buffering=0), os.fdopen(err_r, "rb", buffering=0))

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _run_child(argv: list[str], phase_fd: int, out_fd: int, err_fd: int) -> None:
    """In the forked child: become the unsupervised entrypoint, then ``os._exit``."""
    status = 70  # EX_SOFTWARE, if even reporting fails
    try:
        # terminal signals (Ctrl-C) reach the supervisor only; it forwards them once
        os.setsid()
        for s in _FORWARDED:
            signal.signal(s, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.close(out_fd)
        os.close(err_fd)
        from shim.runtime.entrypoint import SUPERVISOR_FD_ENV

        os.environ[SUPERVISOR_FD_ENV] = str(phase_fd)
        os.environ["SHIM_SUPERVISE"] = "0"
        from shim.runtime.entrypoint import execute_unsupervised as execute_main

        status = execute_main(_child_argv(argv))
    except SystemExit as e:
        status = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _child_argv(argv: list[str]) -> list[str]:
    """``argv`` with ``--no-supervise`` among the flags (before ``--``)."""
    if "--" in argv:
        i = argv.index("--")
        return [*argv[:i], "--no-supervise", *argv[i:]]
    return [*argv, "--no-supervise"]


def term_grace(environ: Any = None) -> float:
    """``SHIM_TERM_GRACE`` seconds (default 10); a value that is not a number >= 0 raises
    :class:`~shim.envconf.InvalidConfigError`, which the supervisor reports."""
    from shim import envconf

    return envconf.number(
        "SHIM_TERM_GRACE", DEFAULT_TERM_GRACE, minimum=0, unit="seconds", environ=environ
    )


class OutputTail:
    """Passes a stream through and keeps its last lines (bounded in count and length).

    Lines are kept raw, up to :data:`TAIL_KEEP_BYTES` each (the rest of a longer line is
    dropped up to its newline, so a kept line always starts where the line started), and are
    cut to :data:`TAIL_LINE_BYTES` only when rendered, *after* redaction: a secret is never
    split by the cut before it could be recognised (:meth:`render`).
    """

    def __init__(self) -> None:
        self.lines: deque[bytes] = deque(maxlen=TAIL_LINES)
        self._partial = bytearray()
        self._skipping = False  # inside the dropped rest of an overlong line

    def feed(self, chunk: bytes) -> None:
        self._partial += chunk
        while True:
            i = self._partial.find(b"\n")
            if i < 0:
                break
            if self._skipping:
                self._skipping = False
            else:
                self._push(bytes(self._partial[:i]))
            del self._partial[: i + 1]
        if len(self._partial) > TAIL_KEEP_BYTES:
            if not self._skipping:  # a very long line: keep its start, drop the rest
                self._push(bytes(self._partial[:TAIL_KEEP_BYTES]) + b"...")
                self._skipping = True
            self._partial.clear()

    def close(self) -> None:
        if self._partial and not self._skipping:
            self._push(bytes(self._partial))
        self._partial.clear()
        self._skipping = False

    def _push(self, line: bytes) -> None:
        self.lines.append(line)

    def render(self, redact: Any) -> list[str]:
        """The kept lines, decoded, redacted, then cut to :data:`TAIL_LINE_BYTES` characters
        (the cut piece of a secret before the ``...`` is redacted too)."""
        out = []
        for raw in self.lines:
            text = redact(raw.decode("utf-8", "replace"))
            if len(text) > TAIL_LINE_BYTES:
                text = redact(text[:TAIL_LINE_BYTES] + "...")
            out.append(text)
        return out


class Supervisor:
    """One supervised execution (see the module doc)."""

    def __init__(self, argv: list[str], output_prefix: str) -> None:
        self.argv = argv
        self.output_prefix = output_prefix
        self.phase: str = Phase.START
        self.event = ""
        self.tails = {"stdout": OutputTail(), "stderr": OutputTail()}
        self.grace = DEFAULT_TERM_GRACE
        self.proc: Any = None
        self.received: int | None = None  # the signal we forwarded
        self.kill_at: float | None = None
        self.killed_after_grace = False
        self.started = time.monotonic()

    # --- running the child ----------------------------------------------------------------

    def run(self) -> int:
        import shim.runtime.entrypoint  # noqa: F401 - imported once, before the fork

        # the handlers stay until the end: a SIGTERM while the supervisor writes an error
        # document is noted (and forwarded to a child that is gone), never fatal
        previous = {s: signal.signal(s, self._on_signal) for s in _FORWARDED}
        try:
            return self._run()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _run(self) -> int:
        from shim.errors import ShimError

        try:
            self.grace = term_grace()
        except ShimError as e:  # a bad SHIM_TERM_GRACE: reported before any work
            return self._report_error(e)
        oom_before = oom_kill_count()
        try:
            r_phase, w_phase = os.pipe()
        except OSError as e:
            return self._report(None, f"could not start the worker process: {e}", oom=False)
        try:
            self.proc = ForkedWorker.start(self.argv, w_phase)
        except OSError as e:
            os.close(r_phase)
            return self._report(None, f"could not start the worker process: {e}", oom=False)
        finally:
            os.close(w_phase)
        if self.received is not None:  # a signal arrived while the child was starting
            self._forward(self.received)
        self._pump(r_phase)
        rc = self.proc.returncode
        if self.phase == Phase.DONE:
            return 0
        if self.event == Event.ERROR_WRITTEN:
            from shim.runtime.errordoc import exit_status

            return rc if rc > 0 else exit_status(True)
        if self.event == Event.ERROR_UNWRITTEN:
            return rc if rc > 0 else 1
        oom = rc == -signal.SIGKILL and oom_kill_count() > oom_before
        return self._report(rc, describe_exit(rc), oom=oom)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            return  # forwarded once already: a second signal must not disturb the report
        self.received = signum
        self.kill_at = time.monotonic() + self.grace
        if self.proc is not None:
            self._forward(signum)

    def _forward(self, signum: int) -> None:
        if self.proc.returncode is not None:  # reaped: its pid may belong to another process
            return
        try:
            os.kill(self.proc.pid, signum)
        except OSError:
            pass

    def _pump(self, r_phase: int) -> None:
        """Pass output through and follow the phase until the child has ended."""
        import selectors

        proc = self.proc
        sel = selectors.DefaultSelector()
        streams = {
            proc.stdout.fileno(): (1, self.tails["stdout"]),
            proc.stderr.fileno(): (2, self.tails["stderr"]),
        }
        for fd in streams:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        phase_buf = bytearray()
        sel.register(r_phase, selectors.EVENT_READ)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        sel.register(wake_r, selectors.EVENT_READ)
        old_wakeup = _set_wakeup_fd(wake_w)
        pidfd = _pidfd_open(proc.pid)
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ)
        open_fds = {*streams, r_phase}
        drain_until: float | None = None
        try:
            while open_fds:
                now = time.monotonic()
                if drain_until is None and proc.poll() is not None:
                    drain_until = now + DRAIN_SECONDS
                if drain_until is not None and now >= drain_until:
                    break  # something the child started still holds the pipes
                if (
                    self.kill_at is not None
                    and now >= self.kill_at
                    and not self.killed_after_grace
                    and proc.poll() is None
                ):
                    self.killed_after_grace = True
                    self._forward(signal.SIGKILL)
                timeout = 0.5 if pidfd is None else None
                if self.kill_at is not None and not self.killed_after_grace:
                    timeout = max(0.0, min(timeout or 1e9, self.kill_at - now))
                if drain_until is not None:
                    timeout = max(0.0, min(timeout or 1e9, drain_until - now))
                for key, _ in sel.select(timeout):
                    fd = key.fd
                    if fd == pidfd:
                        sel.unregister(pidfd)
                        os.close(pidfd)
                        pidfd = None
                        proc.poll()
                        continue
                    if fd == wake_r:
                        _read_all(wake_r)
                        continue
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if fd == r_phase:
                        if data:
                            phase_buf += data
                            phase_buf = self._take_phases(phase_buf)
                    elif data:
                        out_fd, tail = streams[fd]
                        _write_all(out_fd, data)
                        tail.feed(data)
                    if not data:
                        sel.unregister(fd)
                        open_fds.discard(fd)
            proc.wait()
        finally:
            _set_wakeup_fd(old_wakeup)
            for _, tail in streams.values():
                tail.close()
            for fd in (wake_r, wake_w, r_phase, pidfd):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            sel.close()
            proc.stdout.close()
            proc.stderr.close()

    def _take_phases(self, buf: bytearray) -> bytearray:
        *lines, rest = bytes(buf).split(b"\n")
        for raw in lines:
            name = raw.decode("utf-8", "replace").strip()
            if name.startswith("="):
                self.event = name[1:]
            elif name:
                self.phase = Phase.parse(name) or name
        return bytearray(rest[:256])

    # --- reporting a death ----------------------------------------------------------------

    def _report(self, rc: int | None, how: str, *, oom: bool) -> int:
        from shim.runtime import errordoc

        code, recoverable, origin = classify_death(
            rc, self.phase, oom=oom, terminated=self.received is not None
        )
        elapsed = time.monotonic() - self.started
        if self.received is not None:
            how = f"{how} after the supervisor received {signal.Signals(self.received).name}"
            if self.killed_after_grace:
                how += f" and it did not stop within the {self.grace:g}s grace period"
        summary = f"the worker process {how}, during phase '{self.phase}', after {elapsed:.1f}s"
        hint = _HINTS.get(code.split(":", 1)[1], "")
        text = f"{code.split(':', 1)[1]}: {summary}" + (f". {hint}" if hint else "")
        # flytekit's layout; the output tail stands where a traceback would, so that the
        # message's last line is the summary. Each line is redacted before it is cut and
        # indented (a secret may span lines, or the cut).
        from shim.runtime.redaction import redactor

        redact = redactor()
        parts = []
        for name, tail in self.tails.items():
            lines = tail.render(redact)
            if lines:
                parts += [f"last {len(lines)} lines of the worker's {name}:"]
                parts += [f"  {line}" for line in lines]
        message = errordoc.layout("\n".join(parts), text)
        c = errordoc.Classified(code, recoverable, origin, message)
        kind = "recoverable" if recoverable else "non-recoverable"
        storage, _ = errordoc.reporting_storage()  # a bad setting: the worker reported it
        if errordoc.outputs_stand(storage, self.output_prefix, self.phase):
            _stderr(f"the worker process {how} after writing outputs.pb; the outputs stand")
            return 0
        if self.phase == Phase.START:  # it may have died before removing a stale outputs.pb
            from shim.storage import join

            try:
                storage.delete_object(join(self.output_prefix, "outputs.pb"))
            except BaseException as e:
                _stderr(redact(f"could not remove a stale outputs.pb: {e}"))
        _stderr(redact(f"{code} ({kind}): {summary}"))
        written = errordoc.write(c, self.output_prefix, storage, redact=redact, summary=summary)
        return errordoc.exit_status(written)

    def _report_error(self, exc: BaseException) -> int:
        """Report a failure of the supervisor's own set-up (before the worker exists)."""
        from shim.runtime import errordoc
        from shim.runtime.redaction import redactor

        redact = redactor()
        c = errordoc.classify(exc, phase=Phase.START, redact=redact)
        kind = "recoverable" if c.recoverable else "non-recoverable"
        _stderr(redact(f"{c.code} ({kind}) in phase '{Phase.START}': {exc}"))
        storage, _ = errordoc.reporting_storage()
        written = errordoc.write(c, self.output_prefix, storage, redact=redact, summary=f"{exc}")
        return errordoc.exit_status(written)


_HINTS = {
    "OOMKilled": "The container ran out of memory (the kernel's OOM killer ended the worker): "
    "raise the task's memory limit or process the data in smaller pieces",
    "WorkerKilled": "It was killed from outside the task (SIGKILL is also what the kernel's "
    "OOM killer sends when it could not be identified as such)",
    "WorkerCrashed": "A native library crashed (segmentation fault, abort, ...)",
    "WorkerExited": "It ended without writing outputs or an error document (os._exit, or the "
    "interpreter failed)",
    "Terminated": "The task was asked to stop (pod deletion, preemption, node drain)",
}


def classify_death(
    rc: int | None, phase: str, *, oom: bool, terminated: bool
) -> tuple[str, bool, str]:
    """``(code, recoverable, origin)`` for a worker that ended without reporting."""
    if oom:
        return "USER:OOMKilled", True, "USER"
    if terminated:
        return "SYSTEM:Terminated", True, "SYSTEM"
    in_user_code = Phase.parse(phase) is Phase.EXECUTE
    if rc is not None and rc < 0:
        if -rc in _CRASH_SIGNALS:
            if in_user_code:
                return "USER:WorkerCrashed", False, "USER"
            return "SYSTEM:WorkerCrashed", True, "SYSTEM"
        return "SYSTEM:WorkerKilled", True, "SYSTEM"
    if in_user_code:
        return "USER:WorkerExited", False, "USER"
    return "SYSTEM:WorkerExited", True, "SYSTEM"


def describe_exit(rc: int) -> str:
    """``"was killed by signal SIGKILL (9)"``, ``"exited with status 3"``."""
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"was killed by signal {name} ({-rc})"
    return f"exited with status {rc}"


def oom_kill_count() -> int:
    """The ``oom_kill`` counter of this process's memory cgroup (v2 ``memory.events``, v1
    ``memory.oom_control``); -1 when there is none. ``SHIM_OOM_EVENTS_FILE`` names the file
    to read instead (tests)."""
    for path in _oom_files():
        try:
            with open(path, "rb") as f:
                for line in f.read(4096).decode("ascii", "replace").splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return -1


def _oom_files() -> list[str]:
    from shim import envconf

    override = envconf.text("SHIM_OOM_EVENTS_FILE")
    if override:
        return [override]
    files = []
    try:
        with open("/proc/self/cgroup", "rb") as f:
            lines = f.read(8192).decode("utf-8", "replace").splitlines()
    except OSError:
        return files
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        path = path.lstrip("/")
        if controllers == "":
            files.append(os.path.join("/sys/fs/cgroup", path, "memory.events"))
            files.append(os.path.join("/sys/fs/cgroup/unified", path, "memory.events"))
        elif "memory" in controllers.split(","):
            files.append(os.path.join("/sys/fs/cgroup/memory", path, "memory.oom_control"))
            files.append("/sys/fs/cgroup/memory/memory.oom_control")  # cgroup namespace root
    return files


def _pidfd_open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _set_wakeup_fd(fd: int) -> int:
    try:
        return signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    except ValueError:  # not the main thread
        return -1


def _read_all(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        except OSError:  # our own stdout is gone: keep supervising
            return
        view = view[n:]


def _stderr(line: str) -> None:
    from shim.runtime.errordoc import print_line

    print_line(line)
