"""Plots: PNGs at the fixed pixel size, safe file names, a clear error without matplotlib."""
import sys

import numpy as np
import pytest

from idr_kit.data.records import make_protein
from idr_kit.run.plot_folder import INDEX, PlotFolder, PlotNames
from idr_kit.run.plots import plot_proteins, protein_plot, summary_plot

PROTEINS = [make_protein("sp|P1|A/B", "ACDEFGHIKL", "0011110--0"),
            make_protein("P2", "MNPQRST", "1100011"),
            make_protein("p2", "VWY")]  # no labels; "p2" differs from "P2" only by case
CURVES = {"ensemble": [np.linspace(0, 1, 10), np.full(7, .3), np.array([.1, .9, .5])],
          "lgbm": [np.linspace(1, 0, 10), np.full(7, .6), np.array([.2, .2, .2])]}


def pixels(path) -> tuple[int, int]:
    """(width, height) of a PNG, read back with matplotlib."""
    image = pytest.importorskip("matplotlib.image").imread(path)
    return image.shape[1], image.shape[0]


def test_plot_names_are_ids_when_safe_else_derived_names_no_id_can_have():
    ids = ["a/b", "a_b", "a_b_2", "-rf", "P2", "p2", "..", ".hidden", "", "x" * 300, "CON",
           "δ", "sp|P1|A"]
    namer = PlotNames(".png")
    names = [namer(pid) for pid in ids]
    assert names[1:3] == ["a_b.png", "a_b_2.png"]  # safe ids keep their names
    assert names[0].startswith("_a_b_") and names[0] not in ("a_b_2.png", "a_b_2_2.png")
    assert names[3].startswith("_rf_")  # never shaped like an option
    assert names[4] == "P2.png" and names[5].startswith("_p2_")  # one file ignoring case
    assert len({n.lower() for n in names}) == len(names)
    assert not any(n.startswith(("-", ".")) or "/" in n for n in names)
    derived = [n for n, pid in zip(names, ids) if n != pid + ".png"]
    assert all(n.startswith("_") for n in derived)  # no safe id starts with "_"
    assert len(names[9]) < 255


def test_protein_plot_writes_a_png_of_the_fixed_size(tmp_path):
    pytest.importorskip("matplotlib")
    protein = PROTEINS[0]
    curves = {name: probs[0] for name, probs in CURVES.items()}
    path = protein_plot(tmp_path / "deep" / "p1.png", protein, curves, .5, highlight="ensemble")
    assert path == tmp_path / "deep" / "p1.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pixels(path) == (1200, 400)  # PROTEIN_FIGSIZE (12, 4) inches at 100 dpi
    assert [p.name for p in path.parent.iterdir()] == ["p1.png"]  # no temporary file left


def test_protein_plot_rejects_a_curve_of_the_wrong_length_or_an_unknown_highlight(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="length 10"):
        protein_plot(tmp_path / "x.png", PROTEINS[0], {"a": np.zeros(9)}, .5)
    with pytest.raises(ValueError, match="highlight"):
        protein_plot(tmp_path / "x.png", PROTEINS[0], {"a": np.zeros(10)}, .5, highlight="b")
    assert not list(tmp_path.iterdir())


def test_summary_plot_writes_two_panels_at_the_fixed_size(tmp_path):
    pytest.importorskip("matplotlib")
    path = summary_plot(tmp_path / "summary.png", PROTEINS, CURVES)
    assert pixels(path) == (1000, 450)  # SUMMARY_FIGSIZE (10, 4.5) inches at 100 dpi


def test_summary_plot_needs_assessed_residues(tmp_path):
    pytest.importorskip("matplotlib")
    unlabelled = [PROTEINS[2]]
    with pytest.raises(ValueError, match="no assessed residue"):
        summary_plot(tmp_path / "s.png", unlabelled, {"a": [np.zeros(3)]})


def test_plot_proteins_writes_the_first_proteins_with_safe_unique_names(tmp_path):
    pytest.importorskip("matplotlib")
    with PlotFolder(tmp_path / "proteins") as drawn:
        plot_proteins(drawn, PROTEINS, CURVES, .5, first=3, highlight="ensemble")
    paths = drawn.paths
    assert [p.name for p in paths][1] == "P2.png" and paths[0].name.startswith("_sp_P1_A_B_")
    assert all(p.parent == tmp_path / "proteins" and p.is_file() for p in paths)
    assert (tmp_path / "proteins" / INDEX).read_text().splitlines() == [
        "id\tfile", *(f"{p.id}\t{path.name}" for p, path in zip(PROTEINS, paths))]
    assert pixels(paths[2]) == (1200, 400)
    with PlotFolder(tmp_path / "two") as drawn:
        plot_proteins(drawn, PROTEINS, CURVES, .5, first=2)
    assert len(drawn.paths) == 2


def test_without_matplotlib_the_error_says_what_to_install(tmp_path, monkeypatch):
    # A None entry in sys.modules makes the import fail, as if matplotlib were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        summary_plot(tmp_path / "s.png", PROTEINS, CURVES)


def test_each_curve_keeps_its_colour_in_every_plot():
    from idr_kit.run.plots import _colours
    assert _colours(["ensemble", "w2v", "lgbm"], "ensemble") == {"w2v": "C0", "lgbm": "C1",
                                                                 "ensemble": "black"}
    assert _colours(["lgbm"], None) == {"lgbm": "C0"}
