"""Plots as outputs: every door (idr-predict --plot, submit.py --plot, Predictor.plot,
idr_kit.plot_disorder) checks where it writes as every other output does, draws any id the
reader accepts, names files so that no name misleads, and writes all of them or none."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from idr_kit.commands.predict import main as predict
from idr_kit.data.records import make_protein
from idr_kit.run import plots

pytest.importorskip("matplotlib")
ODD_IDS = ["$\\x$", "a$b", "$$", "%d{}", "{0}", "\\frac", "δ-ünï", "_x_", "^2"]


def fasta(path, ids, seq="MSEEKKPAPS"):
    path.write_text("".join(f">{pid}\n{seq}\n" for pid in ids))
    return path


def test_ids_are_drawn_as_text_never_as_mathtext(tmp_path):
    for n, pid in enumerate(ODD_IDS):
        protein = make_protein(pid, "MSEEKKPAPS")
        path = plots.protein_plot(tmp_path / f"{n}.png", protein, {pid: np.full(10, .5)}, .5,
                                  calls=np.ones(10))
        assert path.read_bytes()[:4] == b"\x89PNG"
    labelled = [make_protein("$a", "MSEK", "0110")]
    plots.summary_plot(tmp_path / "s.svg", labelled, {"$\\x$": [np.full(4, .4)]})


def test_a_plotted_id_with_dollars_keeps_the_main_outputs(tmp_path):
    source = fasta(tmp_path / "m.fasta", ["$\\x$", *ODD_IDS[1:]])
    assert predict([str(source), "--fast", "--plot", str(tmp_path / "P"),
                    "-o", str(tmp_path / "o.json")]) == 0
    assert (tmp_path / "o.json").is_file()
    assert len(list((tmp_path / "P").glob("*.png"))) == len(ODD_IDS)


def draw_in_child(tmp_path, then: str) -> subprocess.CompletedProcess:
    """A fresh Python that draws one figure (its private matplotlib folder made under
    tmp_path) and then runs ``then``."""
    env = {k: v for k, v in os.environ.items() if k != "MPLCONFIGDIR"}
    env.update(TMPDIR=str(tmp_path), HOME=str(tmp_path / "home"))
    code = f"from idr_kit.run import plots\nplots._figure((1, 1))\n{then}\n"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def config_folders(tmp_path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(plots.CONFIG_PREFIX))


def test_a_killed_plotter_leaves_its_matplotlib_folder_only_until_the_next_one(tmp_path):
    (tmp_path / "home").mkdir()
    killed = draw_in_child(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.returncode == -9
    assert len(config_folders(tmp_path)) == 1  # SIGKILL: no handler ran
    done = draw_in_child(tmp_path, "")
    assert done.returncode == 0, done.stderr
    assert config_folders(tmp_path) == [] and list((tmp_path / "home").iterdir()) == []


def test_a_living_plotters_matplotlib_folder_is_kept(tmp_path):
    folder, lock = plots._locked_config_folder(str(tmp_path))
    try:
        plots.remove_abandoned_config_folders(str(tmp_path))
        assert os.path.isdir(folder)
    finally:
        os.close(lock)
    plots.remove_abandoned_config_folders(str(tmp_path))
    assert not os.path.exists(folder)
