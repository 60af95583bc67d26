"""A small progress display for the command line, written to stderr.

Each step of a job (reading, summarising, fitting, scoring, writing) ends with one
line giving the total elapsed time, the step and its own duration::

    [   4.1s] read big.csv: 10,000,000 rows (4.1 s)

On a terminal the current step is also shown live while it runs: its name, the
seconds so far and, where the fraction done is known (e.g. bytes of a file read), a
bar. The live line is redrawn in place with a carriage return, so it is drawn only
when the stream is a TTY: logs of scheduled jobs and CI get the plain step lines.
``enabled=False`` (the command line's ``--quiet``) prints nothing at all.
"""

import sys
import threading
import time
from contextlib import contextmanager

_BAR_WIDTH = 24
_REDRAW_SECONDS = 0.2


def format_seconds(seconds):
    """``0.42 s``, ``12.3 s`` or ``4 min 07 s``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


class Step:
    """The running step: set ``fraction`` (0..1) to draw a bar, ``detail`` for its end line."""

    def __init__(self, name):
        self.name = name
        self.fraction = None
        self.detail = ""
        self.start = time.perf_counter()

    def update(self, fraction):
        self.fraction = min(max(float(fraction), 0.0), 1.0)


class Progress:
    """Step lines on ``stream`` (stderr by default).

    Parameters
    ----------
    enabled : bool
        False prints nothing.
    stream : file-like, optional
        Defaults to ``sys.stderr``.
    live : bool, optional
        Redraw the running step in place; defaults to ``stream.isatty()``.
    """

    def __init__(self, enabled=True, stream=None, live=None):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        if live is None:
            isatty = getattr(self.stream, "isatty", None)
            live = bool(isatty and isatty())
        self.live = live and enabled
        self.start = time.perf_counter()
        self._lock = threading.Lock()
        self._drawn = 0

    def elapsed(self):
        return time.perf_counter() - self.start

    @contextmanager
    def step(self, name):
        """Run one step; on success print its end line (``step.detail`` appended)."""
        step = Step(name)
        stop = threading.Event()
        drawer = None
        if self.live:
            drawer = threading.Thread(target=self._redraw_until, args=(step, stop), daemon=True)
            drawer.start()
        try:
            yield step
        finally:
            stop.set()
            if drawer is not None:
                drawer.join()
                self._clear()
        seconds = time.perf_counter() - step.start
        detail = f": {step.detail}" if step.detail else ""
        self.line(f"{name}{detail} ({format_seconds(seconds)})")

    def line(self, text):
        """Print one line prefixed with the elapsed time (nothing when disabled)."""
        if not self.enabled:
            return
        with self._lock:
            self._write(f"[{self.elapsed():7.1f}s] {text}\n")

    def message(self, text):
        """Print ``text`` as it is (nothing when disabled)."""
        if self.enabled:
            with self._lock:
                self._write(text + "\n")

    # ----- the live line ------------------------------------------------------------
    def _redraw_until(self, step, stop):
        while not stop.wait(_REDRAW_SECONDS):
            self._draw(step)

    def _draw(self, step):
        seconds = time.perf_counter() - step.start
        text = f"[{self.elapsed():7.1f}s] {step.name} ..."
        if step.fraction is not None:
            filled = int(round(step.fraction * _BAR_WIDTH))
            text += f" [{'#' * filled}{'-' * (_BAR_WIDTH - filled)}] {step.fraction:4.0%}"
        text += f" {format_seconds(seconds)}"
        with self._lock:
            padding = " " * max(self._drawn - len(text), 0)
            self._write("\r" + text + padding)
            self._drawn = len(text)

    def _clear(self):
        with self._lock:
            if self._drawn:
                self._write("\r" + " " * self._drawn + "\r")
                self._drawn = 0

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            # A closed or broken stderr must not fail the job.
            pass


class ProgressReader:
    """A binary file wrapper that reports the fraction of ``size`` bytes read to ``step``."""

    def __init__(self, raw, size, step):
        self._raw = raw
        self._size = max(int(size), 1)
        self._step = step
        self._count = 0

    def read(self, n=-1):
        data = self._raw.read(n)
        self._count += len(data)
        self._step.update(self._count / self._size)
        return data

    def readinto(self, buffer):
        count = self._raw.readinto(buffer)
        self._count += count or 0
        self._step.update(self._count / self._size)
        return count

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def __iter__(self):
        return iter(self._raw)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._raw.close()
