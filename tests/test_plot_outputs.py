"""Plots as outputs: every door (idr-predict --plot, submit.py --plot, Predictor.plot,
idr_kit.plot_disorder) checks where it writes as every other output does, draws any id the
reader accepts, names files so that no name misleads, and writes all of them or none."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from idr_kit.commands.predict import main as predict
from idr_kit.data.atomic import umask
from idr_kit.data.records import make_protein
from idr_kit.run import plots
from idr_kit.run.plot_folder import INDEX, locked_folder, remove_abandoned_folders

pytest.importorskip("matplotlib")
ODD_IDS = ["$\\x$", "a$b", "$$", "%d{}", "{0}", "\\frac", "δ-ünï", "_x_", "^2"]


def fasta(path, ids, seq="MSEEKKPAPS"):
    path.write_text("".join(f">{pid}\n{seq}\n" for pid in ids))
    return path


def test_ids_are_drawn_as_text_never_as_mathtext(tmp_path):
    protein = make_protein("$\\x$", "MSEEKKPAPS")  # the title; the rest in the legend
    curves = {pid: np.full(10, .5) for pid in ODD_IDS}
    path = plots.protein_plot(tmp_path / "p.png", protein, curves, .5, calls=np.ones(10))
    assert path.read_bytes()[:4] == b"\x89PNG"
    labelled = [make_protein("$a", "MSEK", "0110")]
    plots.summary_plot(tmp_path / "s.svg", labelled, {"$\\x$": [np.full(4, .4)]})


def test_a_plotted_id_with_dollars_keeps_the_main_outputs(tmp_path):
    source = fasta(tmp_path / "m.fasta", ["$\\x$", "%d{}", "δ-ü^2"])
    assert predict([str(source), "--fast", "--plot", str(tmp_path / "P"),
                    "-o", str(tmp_path / "o.json")]) == 0
    assert (tmp_path / "o.json").is_file()
    assert len(list((tmp_path / "P").glob("*.png"))) == 3


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
    folder, lock = locked_folder(tmp_path, plots.CONFIG_PREFIX)
    try:
        remove_abandoned_folders(tmp_path, plots.CONFIG_PREFIX)
        assert folder.is_dir()
    finally:
        os.close(lock)
    remove_abandoned_folders(tmp_path, plots.CONFIG_PREFIX)
    assert not folder.exists()


# ---- #4: every door checks where plots go -----------------------------------------------------

@pytest.fixture(scope="module")
def fast():
    import idr_kit
    return idr_kit.load("fast")


@pytest.fixture
def model_copy(tmp_path):
    import shutil
    from idr_kit.api import SHIPPED_FAST
    shutil.copytree(SHIPPED_FAST, tmp_path / "mc")
    return tmp_path / "mc"


def listing(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b""
            for p in sorted(folder.rglob("*"))}


def test_the_api_never_plots_into_a_model_folder(model_copy, tmp_path):
    import idr_kit
    from idr_kit.api import SHIPPED
    from idr_kit.data.errors import UserError
    model, before, shipped = idr_kit.load(model_copy), listing(model_copy), listing(SHIPPED)
    for seqs, out in [(["MSEEKK"], model_copy), (["MSEEKK"], model_copy / "plots"),
                      ("MSEEKK", model_copy / "track.json"), ("MSEEKK", model_copy / "x.png"),
                      (["MSEEKK"], SHIPPED), ("MSEEKK", SHIPPED / "x.png"),
                      (["MSEEKK"], model_copy / ".." / "mc" / "p")]:
        with pytest.raises(UserError):
            model.plot(seqs, out)
    with pytest.raises(UserError):
        idr_kit.plot_disorder(["MSEEKK"], SHIPPED.parent / "predictor-fast")
    assert listing(model_copy) == before and listing(SHIPPED) == shipped


def test_the_api_writes_through_no_link_device_or_fifo(fast, tmp_path):
    from idr_kit.data.errors import FileRefused
    real, precious = tmp_path / "real", tmp_path / "precious.png"
    real.mkdir()
    precious.write_bytes(b"mine")
    (tmp_path / "folder-link").symlink_to(real)
    (tmp_path / "file-link.png").symlink_to(precious)
    os.mkfifo(tmp_path / "fifo")
    os.mkfifo(tmp_path / "fifo.png")
    os.mknod(tmp_path / "dev.png", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    for seqs, out in [(["MSEEKK"], "folder-link"), ("MSEEKK", "file-link.png"),
                      (["MSEEKK"], "fifo"), ("MSEEKK", "fifo.png"), ("MSEEKK", "dev.png"),
                      (["MSEEKK"], "dev.png")]:
        with pytest.raises(FileRefused):
            fast.plot(seqs, tmp_path / out)
    assert list(real.iterdir()) == [] and precious.read_bytes() == b"mine"
    kinds = {p.name: stat.S_IFMT(os.lstat(p).st_mode) for p in tmp_path.iterdir()}
    assert kinds == {"real": stat.S_IFDIR, "precious.png": stat.S_IFREG,
                     "folder-link": stat.S_IFLNK, "file-link.png": stat.S_IFLNK,
                     "fifo": stat.S_IFIFO, "fifo.png": stat.S_IFIFO, "dev.png": stat.S_IFCHR}


def test_the_api_writes_the_format_it_names_and_only_those(fast, tmp_path):
    from idr_kit.data.errors import UserError
    before = sorted(tmp_path.parent.iterdir())
    for seqs, out, fmt in [(["MSEEKK"], "o", "/../../ESCAPED"), (["MSEEKK"], "o", "jpg"),
                           (["MSEEKK"], "o", 3), ("MSEEKK", "x.jpg", None),
                           ("MSEEKK", "x", None), ("MSEEKK", "x.png", "svg")]:
        with pytest.raises(UserError):
            fast.plot(seqs, tmp_path / out, fmt)
    for out in (3, b"x.png", None):
        with pytest.raises(UserError):
            fast.plot("MSEEKK", out)
    assert list(tmp_path.iterdir()) == [] and sorted(tmp_path.parent.iterdir()) == before
    magic = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}
    [path] = fast.plot(["MSEEKK"], tmp_path / "png")
    assert path.name == "seq1.png" and path.read_bytes().startswith(magic["png"])
    [path] = fast.plot(["MSEEKK"], tmp_path / "svg", "svg")
    assert path.name == "seq1.svg" and path.read_bytes().startswith(magic["svg"])
    assert fast.plot("MSEEKK", tmp_path / "one.PDF")[0].read_bytes().startswith(magic["pdf"])
    assert fast.plot("MSEEKK", tmp_path / "two.svg", "svg")[0].read_bytes().startswith(
        magic["svg"])


# ---- #11: all or none ---------------------------------------------------------------------------

def test_a_run_refused_at_the_end_leaves_no_plot_and_no_folder(tmp_path, monkeypatch):
    source = fasta(tmp_path / "m.fasta", ["a", "b", "c"])
    draw = plots.protein_plot

    def draw_then_change_the_input(path, *args, **kwargs):
        with open(source, "a") as handle:  # the input changes while it is predicted
            handle.write(">d\nMSEK\n")
        return draw(path, *args, **kwargs)
    monkeypatch.setattr(plots, "protein_plot", draw_then_change_the_input)
    assert predict([str(source), "--fast", "--plot", str(tmp_path / "new" / "a" / "P"),
                    "-o", str(tmp_path / "o.json")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fasta"]


def test_plots_appear_with_the_outputs_and_what_a_killed_run_staged_goes(tmp_path):
    source = fasta(tmp_path / "m.fasta", ["a", "b"])
    abandoned = tmp_path / ".P.kill9.tmp"  # a staging folder whose process died (lock free)
    abandoned.mkdir()
    (abandoned / "a.png").write_bytes(b"half")
    living, lock = locked_folder(tmp_path, ".P.")  # another run's, staging now
    try:
        assert predict([str(source), "--fast", "--plot", str(tmp_path / "P"),
                        "--plot-first", "1", "-o", str(tmp_path / "o.json")]) == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["m.fasta", "o.json", "P", living.name])
    finally:
        os.close(lock)
    assert sorted(p.name for p in (tmp_path / "P").iterdir()) == ["a.png", "index.tsv"]
    assert oct((tmp_path / "P").stat().st_mode & 0o777) == oct(0o777 & ~umask())


# ---- #15: names that cannot mislead, and an index ------------------------------------------

def index_of(folder) -> dict[str, str]:
    rows = [line.split("\t") for line in (folder / INDEX).read_text().splitlines()]
    assert rows[0] == ["id", "file"]
    return dict(rows[1:])


def test_plot_names_are_unique_never_an_option_and_listed(tmp_path):
    ids = ["a/b", "a_b", "a_b_2", "-rf", "A_B"]
    source = fasta(tmp_path / "m.fasta", ids)
    assert predict([str(source), "--fast", "--plot", str(tmp_path / "P"),
                    "--plot-format", "svg"]) == 0
    index = index_of(tmp_path / "P")
    assert list(index) == ids and index["a_b"] == "a_b.svg" and index["a_b_2"] == "a_b_2.svg"
    assert len({name.lower() for name in index.values()}) == len(ids)
    assert not any(name.startswith(("-", ".")) for name in index.values())
    assert sorted(p.name for p in (tmp_path / "P").iterdir()) == sorted([*index.values(), INDEX])
    assert all((tmp_path / "P" / name).read_bytes().startswith(b"<?xml") for name in index.values())


def test_submit_plots_odd_ids_with_an_index_and_again_on_a_rerun(tmp_path):
    from idr_kit.api import SHIPPED_FAST
    from idr_kit.submit import main as submit
    source = fasta(tmp_path / "m.fasta", ["$\\x$", "a/b"])
    args = ["--model", str(SHIPPED_FAST), "--test", str(source), "--out", str(tmp_path / "out"),
            "--plot"]
    for _ in range(2):  # the rerun resumes: its plots are drawn again
        assert submit(args) == 0
        proteins = tmp_path / "out" / "plots" / "proteins"
        assert list(index_of(proteins)) == ["$\\x$", "a/b"]
        assert all((proteins / name).is_file() for name in index_of(proteins).values())
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


# ---- places no issue names ----------------------------------------------------------------------

def test_plots_beside_the_outputs_but_never_over_them(tmp_path, capsys):
    source, folder = fasta(tmp_path / "m.fasta", ["a"]), tmp_path / "D"
    assert predict([str(source), "--fast", "--plot", str(folder), "-o", str(folder / "o.json")
                    ]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", INDEX, "o.json"]
    for clash in (["--submission", str(folder / INDEX)], ["--submission", str(folder / "a.png")],
                  ["-o", str(folder / "x.json"), "--submission", str(folder)]):
        capsys.readouterr()
        assert predict([str(source), "--fast", "--plot", str(folder), *clash]) == 2
        assert "error: " + str(folder) in capsys.readouterr().err


def test_a_plot_folder_holding_a_fifo_or_being_one_is_refused_and_left(tmp_path):
    source = fasta(tmp_path / "m.fasta", ["a"])
    (tmp_path / "P").mkdir()
    os.mkfifo(tmp_path / "P" / "a.png")
    os.mkfifo(tmp_path / "F")
    for folder in ("P", "F", "P/a.png"):
        assert predict([str(source), "--fast", "--plot", str(tmp_path / folder),
                        "-o", str(tmp_path / "o.json")]) == 2
    assert [stat.S_ISFIFO(os.lstat(tmp_path / f).st_mode) for f in ("P/a.png", "F")] == [True] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F", "P", "m.fasta"]


def test_an_existing_plot_folder_keeps_its_other_files(tmp_path):
    source, folder = fasta(tmp_path / "m.fasta", ["a"]), tmp_path / "P"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "a.png").write_bytes(b"old")
    assert predict([str(source), "--fast", "--plot", str(folder)]) == 0
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "a.png").read_bytes()[:4] == b"\x89PNG"
