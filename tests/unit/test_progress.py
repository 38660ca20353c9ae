"""The progress display: drawn on a terminal only (a pseudo-terminal here), never on a pipe
or a file, in CI or with --quiet; build steps at once, transfers after the delay."""

from __future__ import annotations

import io
import os
import pty
import time

import pytest

from shim import progress


@pytest.fixture
def tty(monkeypatch):
    """A pseudo-terminal: (a text stream on its slave side, a function reading what was
    written to it)."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w", encoding="utf-8")
    os.set_blocking(master, False)

    def read() -> str:
        stream.flush()
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")

    yield stream, read
    stream.close()
    os.close(master)


def test_steps_are_drawn_on_a_terminal_and_cleared(tty):
    stream, read = tty
    with progress.display(stream=stream, delay=0) as d:
        assert d is not None and progress.current() is d
        with progress.steps("building greet:0.1.0") as s:
            s.step("step 2/5: RUN pip install   /src/greet")
            time.sleep(0.3)
    out = read()
    assert "building greet:0.1.0: step 2/5: RUN pip install /src/greet (0s)" in out
    assert out.endswith("\r\x1b[K")  # the line is gone when the work is done
    assert progress.current() is None


def test_a_transfer_shows_bytes_and_rate_once_it_is_slow(tty):
    stream, read = tty
    with progress.display(stream=stream, delay=0.5) as d:
        assert d is not None
        with progress.transfer("upload to s3://b/k", total=8 << 20) as t:
            t.advance(1 << 20)
            d.refresh()
            assert "upload" not in read()  # younger than the delay: nothing yet
            time.sleep(0.6)
            t.advance(3 << 20)
            d.refresh()
    out = read()
    assert "4.0 MiB of 8.0 MiB, " in out and "MiB/s, upload to s3://b/k" in out


@pytest.mark.parametrize("why", ["pipe", "file", "CI", "quiet", "dumb"])
def test_nothing_at_all_when_no_one_watches(tty, tmp_path, monkeypatch, why):
    stream, read = tty
    quiet = False
    if why == "pipe":
        r, w = os.pipe()
        stream = os.fdopen(w, "w")
        os.close(r)
    elif why == "file":
        stream = open(tmp_path / "log", "w")  # noqa: SIM115
    elif why == "CI":
        monkeypatch.setenv("CI", "true")
    elif why == "dumb":
        monkeypatch.setenv("TERM", "dumb")
    else:
        quiet = True
    with progress.display(stream=stream, delay=0, quiet=quiet) as d:
        assert d is None
        with progress.steps("building x") as s, progress.transfer("upload", 10) as t:
            s.step("step 1/1: FROM y")
            t.advance(5)
    assert progress.current() is None
    assert read() == ""
    if why == "file":
        stream.close()
        assert (tmp_path / "log").read_text() == ""


def test_ci_false_still_shows(tty, monkeypatch):
    stream, _ = tty
    monkeypatch.setenv("CI", "false")
    assert progress.enabled(stream)
    assert not progress.enabled(io.StringIO())


def test_a_long_line_is_cut_to_the_terminal_width(tty):
    stream, read = tty
    with progress.display(stream=stream, delay=0) as d, progress.steps("building") as s:
        s.step("x" * 500)
        d.refresh()
    drawn = [part for part in read().split("\r\x1b[K") if part]
    assert drawn and all(len(part) < 80 for part in drawn)  # a pty starts at 80 columns or 0


def test_bytes_are_shown_in_binary_units():
    assert progress.format_bytes(512) == "512 B"
    assert progress.format_bytes(1536) == "1.5 KiB"
    assert progress.format_bytes(5 << 30) == "5.0 GiB"


@pytest.mark.parametrize(
    "line, text",
    [
        ("Step 3/7 : RUN pip install x", "step 3/7: RUN pip install x"),
        ("STEP 2/5: COPY . /src", "step 2/5: COPY . /src"),
        ("[1/2] STEP 4/6: COPY shim/ /src/shim/", "stage 1/2, step 4/6: COPY shim/ /src/shim/"),
        ("--> Using cache 35ec0028bf5e", None),
        ("Successfully tagged x:1", None),
    ],
)
def test_build_log_steps(line, text):
    from shim.images import step_text

    assert step_text(line) == text
