"""Progress on a terminal: one status line on stderr while something slow runs.

Two kinds of work report here: *steps* (an image build: a spinner, the current step, the time
so far) and *transfers* (bytes moved to or from object storage: done, total, rate). The line
is drawn only when it helps a person watching:

- the stream is a terminal (``isatty()``; ``TERM=dumb`` is not one),
- not in CI (``CI`` set to anything but a false value: logs of CI jobs are files),
- not asked to be quiet (``--quiet`` on the commands that show progress).

Otherwise nothing at all is written, so output piped to a file or another program is the
same as before. A transfer appears only once it has run for ``SHIM_PROGRESS_DELAY`` seconds
(default 2: short copies do not flicker); steps appear at once.

Commands open a display (:func:`display`); library code reports into the display that is
open, if any (:func:`steps`, :func:`transfer`), and costs nothing when none is. This module
uses only the standard library (and :mod:`shim.envconf`), so the storage layer may report
into it; it is imported only where something reports.

Why not ``click.progressbar``, tqdm or rich: the bar must start late (after the delay), take
updates from the storage layer's worker threads, show a spinner with a free-text step, and
cost nothing on the container's start-up path; click's bar renders on iteration only and has
no spinner, and the other two would be new dependencies with a noticeable import time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

from shim import envconf

__all__ = [
    "DELAY_ENV",
    "Display",
    "StepReporter",
    "TransferReporter",
    "current",
    "display",
    "enabled",
    "format_bytes",
    "steps",
    "transfer",
]

DELAY_ENV = "SHIM_PROGRESS_DELAY"
DEFAULT_DELAY = 2.0
_FALSE = ("", "0", "false", "f", "no", "n", "off")


def _in_ci(environ: Any = None) -> bool:
    value = envconf.text("CI", environ=environ)
    return value is not None and value.strip().lower() not in _FALSE


def enabled(stream: IO[str] | None = None, *, quiet: bool = False, environ: Any = None) -> bool:
    """Whether a progress line may be drawn on ``stream`` (default: stderr)."""
    if quiet or _in_ci(environ):
        return False
    if (envconf.text("TERM", environ=environ) or "").strip().lower() == "dumb":
        return False
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed stream
        return False


def format_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


class StepReporter:
    """A piece of work made of steps (an image build): ``step(text)`` sets the current one."""

    def __init__(self, display: Display | None, label: str) -> None:
        self._display = display
        self.label = label
        self.text = ""
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.text = " ".join(text.split())
        if self._display is not None:
            self._display.refresh()


class TransferReporter:
    """Bytes of one copy: ``set_total(n)`` (again on a retry), ``advance(n)`` / ``update``."""

    def __init__(self, display: Display | None, label: str, total: int | None) -> None:
        self._display = display
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()

    def set_total(self, total: int | None) -> None:
        self.total, self.done = total, 0  # a new attempt starts over
        if self._display is not None:
            self._display.maybe_refresh()

    def advance(self, n: int) -> None:
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        """Bytes done so far (and the total, when it became known)."""
        self.done = done
        if total is not None:
            self.total = total
        if self._display is not None:
            self._display.maybe_refresh()


class Display:
    """The status line: a thread redraws it every ``interval`` seconds while work is open."""

    SPINNER_UTF8 = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    SPINNER_ASCII = "|/-\\"

    def __init__(
        self, stream: IO[str] | None = None, *, delay: float | None = None, interval: float = 0.1
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.delay = (
            envconf.number(DELAY_ENV, DEFAULT_DELAY, minimum=0.0, unit="seconds")
            if delay is None
            else delay
        )
        self.interval = interval
        encoding = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        self._frames = self.SPINNER_UTF8 if encoding == "utf8" else self.SPINNER_ASCII
        self._lock = threading.Lock()
        self._steps: list[StepReporter] = []
        self._transfers: list[TransferReporter] = []
        self._finished_bytes = 0
        self._tick = 0
        self._shown = False
        self._drawn = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- work --------------------------------------------------------------------------

    @contextlib.contextmanager
    def steps(self, label: str) -> Iterator[StepReporter]:
        rep = StepReporter(self, label)
        with self._lock:
            self._steps.append(rep)
        self._ensure_thread()
        try:
            yield rep
        finally:
            with self._lock:
                self._steps.remove(rep)
            self.refresh()

    @contextlib.contextmanager
    def transfer(self, label: str, total: int | None = None) -> Iterator[TransferReporter]:
        rep = TransferReporter(self, label, total)
        with self._lock:
            self._transfers.append(rep)
        self._ensure_thread()
        try:
            yield rep
        finally:
            with self._lock:
                self._transfers.remove(rep)
            self.refresh()

    # --- drawing -----------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="shim-progress", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()

    def line(self, now: float | None = None) -> str:
        """The status line as it would be drawn now ("" when there is nothing to show)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            steps = list(self._steps)
            transfers = [t for t in self._transfers if now - t.started >= self.delay]
        parts = []
        spin = self._frames[self._tick % len(self._frames)]
        for s in steps:
            text = f"{spin} {s.label}"
            if s.text:
                text += f": {s.text}"
            parts.append(f"{text} ({now - s.started:.0f}s)")
        if transfers:
            done = sum(t.done for t in transfers)
            totals = [t.total for t in transfers]
            start = min(t.started for t in transfers)
            rate = done / max(now - start, 1e-3)
            amount = format_bytes(done)
            if all(t is not None for t in totals):
                amount += f" of {format_bytes(sum(totals))}"  # type: ignore[arg-type]
            what = transfers[0].label if len(transfers) == 1 else f"{len(transfers)} transfers"
            # the figures first: a narrow terminal cuts the end of the line
            parts.append(f"{spin} {amount}, {format_bytes(rate)}/s, {what}")
        return "  ".join(parts)

    def maybe_refresh(self) -> None:
        """Redraw unless the line was drawn less than ``interval`` seconds ago (cheap enough
        to call for every chunk a transfer moves)."""
        if time.monotonic() - self._drawn >= self.interval:
            self.refresh()

    def refresh(self) -> None:
        self._drawn = time.monotonic()
        text = self.line()
        width = _width(self.stream)
        if len(text) > width - 1:  # never wrap: a wrapped line cannot be redrawn in place
            text = text[: max(width - 1, 1)]
        with self._lock:
            self._tick += 1
            if not text and not self._shown:
                return
            try:
                self.stream.write("\r\x1b[K" + text)
                self.stream.flush()
            except (OSError, ValueError):
                return
            self._shown = bool(text)

    def close(self) -> None:
        """Stop drawing and clear the line."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=2)
        with self._lock:
            if self._shown:
                with contextlib.suppress(OSError, ValueError):
                    self.stream.write("\r\x1b[K")
                    self.stream.flush()
                self._shown = False


def _width(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return shutil.get_terminal_size().columns or 80


_current: Display | None = None
_current_lock = threading.Lock()


def current() -> Display | None:
    """The display open in this process, if any."""
    return _current


@contextlib.contextmanager
def display(
    *, quiet: bool = False, stream: IO[str] | None = None, delay: float | None = None
) -> Iterator[Display | None]:
    """Open the process's display for the duration of a command (None when :func:`enabled`
    says no, or when one is open already)."""
    global _current
    stream = sys.stderr if stream is None else stream
    if not enabled(stream, quiet=quiet):
        yield None
        return
    with _current_lock:
        if _current is not None:
            shown = None
        else:
            shown = _current = Display(stream, delay=delay)
    if shown is None:
        yield None
        return
    try:
        yield shown
    finally:
        shown.close()
        with _current_lock:
            _current = None


@contextlib.contextmanager
def steps(label: str) -> Iterator[StepReporter]:
    """Report a piece of work made of steps to the open display (a no-op without one)."""
    d = _current
    if d is None:
        yield StepReporter(None, label)
        return
    with d.steps(label) as rep:
        yield rep


@contextlib.contextmanager
def transfer(label: str, total: int | None = None) -> Iterator[TransferReporter]:
    """Report the bytes of one copy to the open display (a no-op without one)."""
    d = _current
    if d is None:
        yield TransferReporter(None, label, total)
        return
    with d.transfer(label, total) as rep:
        yield rep
