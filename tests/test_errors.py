"""One user-error type: a user's mistake is one line and exit status 2; anything else is a bug,
said so in one line, then its traceback, and exit status 1."""
from __future__ import annotations

import pytest

from idr_kit.commands.common import guarded
from idr_kit.data.errors import FileRefused, InputError, MissingExtra, SettingError, UserError
from idr_kit.nn.official import WeightsMismatch
from idr_kit.run.folder import FolderBusy

from runs import run_submit


def fails_with(error: BaseException):
    def work():
        raise error
    return work


@pytest.mark.parametrize("error", [
    InputError("bad residue", source="x.fasta", protein="P1", position=3),
    SettingError("bad value 'x' for setting 'num_leaves'"),
    MissingExtra("track 'esm' needs torch"), FileRefused("out: cannot write there"),
    FolderBusy("out: another run"), WeightsMismatch("w.pt: not ESM-2")])
def test_a_users_mistake_is_one_line_and_status_2(error, capsys):
    assert isinstance(error, UserError)
    assert guarded("submit.py", False, fails_with(error)) == 2
    err = capsys.readouterr().err
    assert err == f"submit.py: error: {error}\n"


@pytest.mark.parametrize("error", [KeyError("members"), ValueError("3 folds for 2 proteins"),
                                   FileNotFoundError("/nowhere/track.json"), TypeError("x")])
def test_anything_else_is_a_bug_with_its_traceback_and_status_1(error, capsys):
    assert guarded("submit.py", False, fails_with(error)) == 1
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("submit.py: internal error (a bug in idr-kit")
    assert type(error).__name__ in first and "Traceback (most recent call last)" in err


def test_ctrl_c_is_status_130(capsys):
    assert guarded("score.py", False, fails_with(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == "score.py: interrupted\n"


def test_debug_shows_a_users_mistake_with_its_traceback(capsys):
    assert guarded("submit.py", True, fails_with(SettingError("bad"))) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("submit.py: error: bad\n")


def test_a_bad_setting_on_the_command_line_is_one_line(tmp_path):
    result = run_submit("--track", "lgbm", "--set", "num_leaves=many", "--out", tmp_path / "o")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "bad value 'many' for setting 'num_leaves'" in result.stderr
