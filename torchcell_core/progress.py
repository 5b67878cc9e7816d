"""Progress of long work: a bar in a terminal, and log lines with the fraction done and an ETA.

One `Progress` serves every caller (simulation, parsing, graph loading, curation, training, the demo, the
benches). It shows a tqdm bar on stderr only when stderr is a terminal, so CI logs, Pipes children and the
Dagster run log never receive carriage-return redraws; and, when given a `log` (a callable such as Dagster's
`context.log.info`, or a `logging.Logger`), it writes one line every `every_s` seconds and one at the end:

    parse costanzo2016: 2,100,000 / 5,000,000 rows (42%), 12 s elapsed, ETA 17 s
    parse costanzo2016: done, 5,000,000 rows in 29 s (172,414 rows/s)

A total may be an estimate (a simulator knows its row count only roughly): the fraction is capped at 100%
and the final line reports the count reached, not the estimate.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TextIO, TypeVar

from tqdm import tqdm

LogTarget = Callable[[str], None] | logging.Logger | None
"""Where progress lines go: a callable taking one line, a logger (at INFO), or None (the bar only)."""

T = TypeVar("T")
DEFAULT_EVERY_S = 10.0


def format_duration(seconds: float) -> str:
    """`4.2 s`, `12 s`, `3 min 20 s`, `2 h 05 min`: short enough for a log line, exact enough for an ETA."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(int(round(seconds)), 60)
        return f"{minutes} min {rest} s"
    hours, rest = divmod(int(round(seconds)) // 60, 60)
    return f"{hours} h {rest:02d} min"


def format_bytes(size: float) -> str:
    """`512 B`, `3.4 MB`, `1.9 GB` (powers of 1000, as file managers show them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def emitter(log: LogTarget) -> Callable[[str], None] | None:
    """The callable that writes one line to `log` (a logger's `info`), or None when there is no log."""
    if log is None:
        return None
    if isinstance(log, logging.Logger):
        return log.info
    return log


def stderr_is_terminal() -> bool:
    """Whether a bar may be drawn: stderr is an interactive terminal (not a pipe, file or captured stream)."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


class Progress(Generic[T]):
    """Counts work done out of an optional total; draws the bar and writes the periodic and final lines.

    Use it as a context manager (`with progress(n, "copy", "rows", log) as p: ... p.update(k)`) or iterate it
    when it wraps an iterable (`for item in progress(items, "curate", "datasets", log): ...`)."""

    def __init__(
        self,
        iterable: Iterable[T] | None,
        total: float | None,
        description: str,
        unit: str = "it",
        log: LogTarget = None,
        every_s: float = DEFAULT_EVERY_S,
        *,
        bar: bool | None = None,
        final: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.iterable = iterable
        self.final = final
        self.total = total
        self.description = description
        self.unit = unit
        self.every_s = every_s
        self.note = ""
        self.count: float = 0
        self._emit = emitter(log)
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._closed = False
        self._bar = tqdm(
            total=total,
            desc=description,
            unit=unit,
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
            disable=not (stderr_is_terminal() if bar is None else bar),
        )

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return self._clock() - self._started

    def set_note(self, note: str) -> None:
        """Text appended to the following lines and shown after the bar (e.g. `best epoch 3, patience 2/5`)."""
        self.note = note
        self._bar.set_postfix_str(note, refresh=False)

    def set_total(self, total: float | None) -> None:
        """Replace the total (an estimate became known, or the work grew)."""
        self.total = total
        self._bar.total = total
        self._bar.refresh()

    def write(self, text: str, file: TextIO | None = None) -> None:
        """Print `text` (to stdout by default) above the bar, which is cleared and redrawn around it."""
        self._bar.write(text, file=file or sys.stdout)

    def update(self, n: float = 1) -> None:
        """Record `n` more units done; writes a line when `every_s` seconds passed since the last one."""
        self.count += n
        self._bar.update(n)
        now = self._clock()
        if self._emit is not None and now - self._last_line >= self.every_s:
            self._last_line = now
            self._emit(self.line())

    def line(self) -> str:
        """The current progress line: count, total and fraction when a total is known, elapsed time and ETA."""
        elapsed = self.elapsed
        text = f"{self.description}: {_number(self.count)}"
        if self.total:
            fraction = min(1.0, self.count / self.total)
            text += f" / {_number(self.total)} {self.unit} ({fraction:.0%}), {format_duration(elapsed)} elapsed"
            if 0 < self.count < self.total:
                text += f", ETA {format_duration(elapsed * (self.total - self.count) / self.count)}"
        else:
            text += f" {self.unit}, {format_duration(elapsed)} elapsed"
        return f"{text}; {self.note}" if self.note else text

    def final_line(self) -> str:
        """The closing line: what was done, in how long, at what rate."""
        elapsed = self.elapsed
        per_s = self.count / elapsed if elapsed >= 1 else 0.0
        rate = f" ({_number(round(per_s))} {self.unit}/s)" if per_s >= 1 else ""
        text = f"{self.description}: done, {_number(self.count)} {self.unit} in {format_duration(elapsed)}{rate}"
        return f"{text}; {self.note}" if self.note else text

    def close(self, failed: bool = False) -> None:
        """Remove the bar and write the final line (unless `final=False`) or, when the work failed, where it stopped."""
        if self._closed:
            return
        self._closed = True
        self._bar.close()
        if self._emit is not None and (failed or self.final):
            self._emit(f"{self.line()} (stopped by an error)" if failed else self.final_line())

    def __enter__(self) -> Progress[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close(failed=kind is not None)

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError(f"progress {self.description!r} was given a total, not an iterable: call update()")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        except GeneratorExit:  # the caller stopped early: not a failure
            self.close()
            raise
        except BaseException:
            self.close(failed=True)
            raise
        self.close()


def progress(
    work: Iterable[T] | float | None,
    description: str,
    unit: str = "it",
    log: LogTarget = None,
    every_s: float = DEFAULT_EVERY_S,
    *,
    total: float | None = None,
    bar: bool | None = None,
    final: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> Progress[T]:
    """Track `work`: an iterable (iterate the result; its length is the total when it has one) or a total count
    (a number, or None when unknown; call `update(n)`). `bar=None` draws the bar only on a terminal; `final=False`
    leaves out the closing line (for an inner loop whose caller reports the outcome)."""
    if work is None or isinstance(work, int | float):
        count = work if total is None else total
        return Progress(None, count, description, unit, log, every_s, bar=bar, final=final, clock=clock)
    if total is None:
        try:
            total = len(work)  # type: ignore[arg-type]
        except TypeError:
            total = None
    return Progress(work, total, description, unit, log, every_s, bar=bar, final=final, clock=clock)
