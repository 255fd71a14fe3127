"""Progress: a bar on a terminal, one line per stage in a log, prefixed by the stage it is in."""
from __future__ import annotations

import pytest
from tqdm.auto import tqdm

from idr_kit.data import progress as progress_module
from idr_kit.data.progress import StageLine, progress, stage


@pytest.fixture
def no_delay(monkeypatch):
    monkeypatch.setattr(progress_module, "DELAY", 0.0)


def test_in_a_log_a_stage_is_one_line_when_it_ends(monkeypatch, capsys, no_delay):
    monkeypatch.setenv("IDR_PROGRESS", "lines")
    with stage("lgbm"):
        assert list(progress(range(3), desc="folds", unit="fold")) == [0, 1, 2]
        with progress(total=None, desc="boosting", unit="round") as bar:
            bar.update(87)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "\r" not in "".join(lines)
    assert lines[0].startswith("[lgbm] folds: 3/3 folds in ")
    assert lines[1].startswith("[lgbm] boosting: 87 rounds in ")  # no made-up total


def test_stages_nest_and_end(monkeypatch, capsys, no_delay):
    monkeypatch.setenv("IDR_PROGRESS", "lines")
    with stage("ensemble"), stage("w2v"):
        list(progress([1], desc="predicting", unit="protein"))
    list(progress([1], desc="after", unit="protein"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("[ensemble] [w2v] predicting: 1/1 protein in")
    assert lines[1].startswith("after: ")


def test_short_stages_stay_quiet(monkeypatch, capsys):
    monkeypatch.setenv("IDR_PROGRESS", "lines")
    list(progress(range(5), desc="quick"))
    assert capsys.readouterr().err == ""


def test_the_mode_picks_a_bar_a_line_or_nothing(monkeypatch, capsys, no_delay):
    monkeypatch.setenv("IDR_PROGRESS", "bars")
    bar = progress(range(2), desc="x")
    assert isinstance(bar, tqdm)
    bar.close()
    capsys.readouterr()
    monkeypatch.setenv("IDR_PROGRESS", "off")
    bar = progress(range(2), desc="x")
    assert isinstance(bar, StageLine) and list(bar) == [0, 1]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("IDR_PROGRESS", "auto")  # pytest captures stderr: not a terminal
    assert isinstance(progress(range(2), desc="x"), StageLine)
    monkeypatch.setenv("IDR_PROGRESS", "loud")
    with pytest.raises(ValueError, match="IDR_PROGRESS"):
        progress(range(2), desc="x")


def test_a_loop_that_breaks_counts_what_it_took(monkeypatch, capsys, no_delay):
    monkeypatch.setenv("IDR_PROGRESS", "lines")
    for _ in progress(range(5), desc="training", unit="batch"):
        break
    assert "training: 1/5 batches in" in capsys.readouterr().err
