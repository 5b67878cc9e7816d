"""`torchcell_core.progress`: the fraction, the ETA, throttled lines, the final line and no bar off a terminal."""

from __future__ import annotations

import io
import logging

import pytest

from torchcell_core import progress as progress_module
from torchcell_core.progress import format_bytes, format_duration, progress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_line_shows_fraction_elapsed_and_eta() -> None:
    clock = Clock()
    with progress(5_000_000, "parse costanzo2016", "rows", bar=False, clock=clock) as p:
        clock.now += 12
        p.update(2_100_000)
        assert p.line() == "parse costanzo2016: 2,100,000 / 5,000,000 rows (42%), 12 s elapsed, ETA 17 s"


def test_lines_are_throttled_to_every_s_and_a_final_line_closes() -> None:
    clock, lines = Clock(), []
    with progress(100, "copy genes", "rows", lines.append, every_s=10.0, bar=False, clock=clock) as p:
        for _ in range(30):  # 30 updates, 1 s apart: a line at 10 s, 20 s and 30 s only
            clock.now += 1
            p.update(1)
    assert lines[:3] == [
        "copy genes: 10 / 100 rows (10%), 10 s elapsed, ETA 90 s",
        "copy genes: 20 / 100 rows (20%), 20 s elapsed, ETA 80 s",
        "copy genes: 30 / 100 rows (30%), 30 s elapsed, ETA 70 s",
    ]
    assert lines[3:] == ["copy genes: done, 30 rows in 30 s (1 rows/s)"]


def test_iterating_counts_items_and_logs_to_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    logger = logging.getLogger("torchcell_core.test_progress")

    def items():
        for i in range(4):
            clock.now += 5
            yield i

    with caplog.at_level(logging.INFO, logger=logger.name):
        seen = list(progress(items(), "curate", "datasets", logger, total=4, bar=False, clock=clock))
    assert seen == [0, 1, 2, 3]
    assert [r.getMessage() for r in caplog.records] == [
        "curate: 2 / 4 datasets (50%), 10 s elapsed, ETA 10 s",
        "curate: 4 / 4 datasets (100%), 20 s elapsed",
        "curate: done, 4 datasets in 20 s",
    ]


def test_an_estimated_total_is_capped_and_the_final_line_reports_the_count() -> None:
    clock, lines = Clock(), []
    with progress(1000, "simulate", "rows", lines.append, bar=False, clock=clock) as p:
        clock.now += 60
        p.update(1200)
        assert p.line().startswith("simulate: 1,200 / 1,000 rows (100%), 60 s elapsed")
        assert "ETA" not in p.line()
    assert lines[-1] == "simulate: done, 1,200 rows in 60 s (20 rows/s)"


def test_unknown_total_and_note() -> None:
    clock = Clock()
    p = progress(None, "train", "epochs", bar=False, clock=clock)
    clock.now += 3
    p.update(2)
    p.set_note("best epoch 2, patience 0/5")
    assert p.line() == "train: 2 epochs, 3.0 s elapsed; best epoch 2, patience 0/5"
    p.close()


def test_an_inner_loop_can_leave_out_its_final_line() -> None:
    clock, lines = Clock(), []
    with progress(4, "epoch 1/3", "batches", lines.append, every_s=10.0, bar=False, final=False, clock=clock) as p:
        for _ in range(4):
            clock.now += 6
            p.update(1)
    assert lines == [
        "epoch 1/3: 2 / 4 batches (50%), 12 s elapsed, ETA 12 s",
        "epoch 1/3: 4 / 4 batches (100%), 24 s elapsed",
    ]


def test_write_prints_to_stdout_beside_the_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with progress(2, "bench", "models", bar=False) as p:
        p.write("| mlp | 1.2 GiB |")
    assert capsys.readouterr().out == "| mlp | 1.2 GiB |\n"


def test_a_failure_writes_where_it_stopped() -> None:
    clock, lines = Clock(), []
    with pytest.raises(RuntimeError), progress(10, "load", "tables", lines.append, bar=False, clock=clock) as p:
        p.update(3)
        raise RuntimeError("boom")
    assert lines == ["load: 3 / 10 tables (30%), 0.0 s elapsed, ETA 0.0 s (stopped by an error)"]


def test_iterating_a_count_is_refused() -> None:
    with pytest.raises(TypeError, match="'copy'"):
        list(progress(3, "copy", bar=False))


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = io.StringIO()  # isatty() is False, as under Dagster, Pipes and CI
    monkeypatch.setattr(progress_module.sys, "stderr", captured)
    with progress(100, "quiet", "rows") as p:
        p.update(50)
    assert captured.getvalue() == ""


def test_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(progress_module.sys, "stderr", terminal)
    with progress(100, "loud", "rows") as p:
        p.update(50)
    assert "loud" in terminal.getvalue() and "\r" in terminal.getvalue()


@pytest.mark.parametrize(
    ("seconds", "text"), [(4.24, "4.2 s"), (12.4, "12 s"), (200, "3 min 20 s"), (7500, "2 h 05 min"), (-1, "0.0 s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"), [(512, "512 B"), (3_400_000, "3.4 MB"), (1.9e9, "1.9 GB"), (2.5e12, "2500.0 GB")]
)
def test_format_bytes(size: float, text: str) -> None:
    assert format_bytes(size) == text
