"""Pictures of predictions: one protein along its sequence, and pooled ROC / precision-recall.

matplotlib is an optional extra (``pip install matplotlib``, or the ``plots`` extra); it is
imported inside the functions, so the rest of the kit runs without it. Figures are drawn
on the Agg canvas directly (no pyplot, so no GUI backend and no global figure list) and written
atomically, in the format the file's extension names. Sizes are fixed, never "tight", so every
PNG of a kind has the same pixel size: ``PROTEIN_FIGSIZE`` and ``SUMMARY_FIGSIZE`` inches at
``DPI``. Where a set of plots goes, how its files are named, and that it appears all at once or
not at all, is plot_folder.py's.
"""
from __future__ import annotations

import atexit
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from idr_kit.data import outputs
from idr_kit.data.atomic import atomic_write
from idr_kit.data.errors import WrongType
from idr_kit.data.metrics import curve_aps, curve_auc, threshold_curve
from idr_kit.data.records import Protein, pooled
from idr_kit.model.decision import runs
from idr_kit.run.plot_folder import PlotFolder, format_of, locked_folder, remove_abandoned_folders

DPI = 100
PROTEIN_FIGSIZE = (12.0, 4.0)  # inches: 1200 x 400 px, wide because proteins are long
SUMMARY_FIGSIZE = (10.0, 4.5)  # inches: 1000 x 450 px, two square-ish panels
DISORDER_COLOUR = "#f4b183"  # shading of the true disordered spans
UNASSESSED_COLOUR = "#d9d9d9"  # shading of residues labelled '-'
REGION_COLOUR = "#2e75b6"  # the bar of predicted IDRs along the top
LINE_WIDTH, HIGHLIGHT_WIDTH = 1.0, 2.4  # the highlighted curve (the ensemble) drawn bolder
CONFIG_PREFIX = "idr-kit-matplotlib-"  # the private matplotlib folders, in the temporary folder
_config_lock: int | None = None  # held open while this process may use its folder


def _figure(figsize: tuple[float, float]):
    """A matplotlib Figure on an Agg canvas, or an ImportError saying what to install."""
    _private_matplotlib_folder()
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plots need matplotlib: pip install matplotlib "
                          "(or pip install 'idr-kit[plots]')") from error
    figure = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _private_matplotlib_folder() -> None:
    """matplotlib keeps its settings and font cache under the user's home folder
    (~/.config/matplotlib, ~/.cache/matplotlib), where the kit writes nothing: unless the user
    chose a folder (MPLCONFIGDIR) or matplotlib is already loaded, it gets a temporary one,
    removed when the process ends (the font list is built again each time: about a second).
    The folder is locked while its process lives, so one that a killed process (SIGKILL: no
    handler runs) left behind is removed by the next process that draws."""
    if "matplotlib" in sys.modules or os.environ.get("MPLCONFIGDIR"):
        return
    global _config_lock
    remove_abandoned_folders(tempfile.gettempdir(), CONFIG_PREFIX)
    folder, _config_lock = locked_folder(tempfile.gettempdir(), CONFIG_PREFIX)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["MPLCONFIGDIR"] = str(folder)


def _save(figure, path: str | Path) -> Path:
    """The figure in the format its extension names (plot_folder.FORMATS), written atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=format_of(path), dpi=DPI)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return Path(path)


def _plain(*texts) -> None:
    """Texts drawn as written: ids and curve names may hold '$' or '\\', which matplotlib
    would otherwise parse as mathtext (failing on an unknown symbol) or hand to LaTeX."""
    for text in texts:
        text.set_parse_math(False)
        text.set_usetex(False)


def _shade(axes, mask: np.ndarray, colour: str, label: str) -> None:
    """Shade each run of True in ``mask`` (L,); residue i (1-based) spans [i - 0.5, i + 0.5]."""
    for n, (start, end) in enumerate(zip(*runs(mask))):
        axes.axvspan(start + 0.5, end + 0.5, color=colour, lw=0, label=label if n == 0 else None)


def _colours(names: Sequence[str], highlight: str | None) -> dict[str, str]:
    """One colour per curve name, the same in every plot of a run: the highlight in black."""
    others = [n for n in names if n != highlight]
    colours = {n: f"C{i % 10}" for i, n in enumerate(others)}  # matplotlib's default cycle
    return {**colours, **({highlight: "black"} if highlight in names else {})}


def protein_plot(path: str | Path, protein: Protein, curves: Mapping[str, np.ndarray],
                 threshold: float, highlight: str | None = None,
                 calls: np.ndarray | None = None) -> Path:
    """One protein: each curve (L,) along the sequence, the threshold, the true labels if known,
    and the predicted IDRs (the runs of ``calls`` (L,), when given) as a bar along the top.

    ``highlight`` names the curve drawn bolder and on top (the ensemble). Returns ``path``
    (PNG, or SVG by its extension).
    """
    length = len(protein)
    for name, values in curves.items():
        if np.shape(values) != (length,):
            raise ValueError(f"curve {name!r} has shape {np.shape(values)}, but protein "
                             f"{protein.id} has length {length}")
    if highlight is not None and highlight not in curves:
        raise ValueError(f"highlight {highlight!r} is not one of the curves {list(curves)}")
    figure = _figure(PROTEIN_FIGSIZE)
    axes = figure.add_subplot()
    if protein.has_labels:
        _shade(axes, protein.labels.astype(bool) & protein.mask, DISORDER_COLOUR, "disordered")
        _shade(axes, ~protein.mask, UNASSESSED_COLOUR, "not assessed")
    positions = np.arange(1, length + 1)
    colours = _colours(list(curves), highlight)
    for name, values in curves.items():
        bold = name == highlight
        axes.plot(positions, values, label=name, lw=HIGHLIGHT_WIDTH if bold else LINE_WIDTH,
                  zorder=3 if bold else 2, color=colours[name])
    axes.axhline(threshold, color="crimson", ls="--", lw=1, label=f"threshold {threshold:.3f}")
    top = 1.02
    if calls is not None:
        starts, ends = runs(np.asarray(calls).astype(bool))
        axes.hlines(np.full(len(starts), 1.05), starts + 0.5, ends + 0.5, color=REGION_COLOUR,
                    lw=6, label=f"predicted IDRs ({len(starts)})")
        top = 1.09
    axes.set(xlim=(0.5, length + 0.5), ylim=(-0.02, top), xlabel="residue",
             ylabel="disorder probability")
    # Beside the axes, not on them: inside, it hid a stretch of the curve or of the IDR bar.
    legend = axes.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize="small",
                         borderaxespad=0.0)
    _plain(axes.set_title(f"{protein.id}  (length {length})"), *legend.get_texts())
    figure.tight_layout()  # rearranges inside the fixed canvas; the pixel size does not change
    return _save(figure, path)


def _legend_value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summary_plot(path: str | Path, proteins: Sequence[Protein],
                 curves: Mapping[str, Sequence[np.ndarray]], highlight: str | None = None) -> Path:
    """ROC and precision-recall of each named prediction on the pooled assessed residues.

    ``curves[name]`` holds one (L,) array per protein. The legend gives CAID's AUC and APS
    (``data.metrics``); the points drawn are CAID's rounded ones. Returns ``path``.
    """
    figure = _figure(SUMMARY_FIGSIZE)
    roc, pr = figure.subplots(1, 2)
    colours = _colours(list(curves), highlight)
    for name, probs in curves.items():
        if len(probs) != len(proteins):
            raise ValueError(f"curve {name!r} has {len(probs)} arrays for {len(proteins)} proteins")
        y, s = pooled(proteins, probs)
        if len(y) == 0:
            raise ValueError("no assessed residue to draw a ROC or precision-recall curve on")
        curve = threshold_curve(y, s)
        roc.plot(np.r_[0.0, curve.fpr], np.r_[0.0, curve.tpr], color=colours[name],
                 label=f"{name}  AUC {_legend_value(curve_auc(curve))}")
        pr.step(np.r_[0.0, curve.recall], np.r_[curve.precision[:1], curve.precision],
                where="pre", color=colours[name],
                label=f"{name}  APS {_legend_value(curve_aps(curve))}")
    roc.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    roc.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate",
            ylabel="true positive rate", title="ROC (pooled residues)")
    pr.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision",
           title="precision-recall (pooled residues)")
    _plain(*roc.legend(loc="lower right", fontsize="small").get_texts(),
           *pr.legend(loc="lower left", fontsize="small").get_texts())
    figure.tight_layout()
    return _save(figure, path)


def prediction_plotter(plots: PlotFolder, threshold: float, first: int):
    """What draws each of the first ``first`` predictions (id, sequence, probabilities, calls)
    into ``plots``, one file a protein: the probability along the sequence, the threshold and
    the predicted IDRs. Returns (plot(hit), the paths drawn)."""
    def plot(hit) -> None:
        if len(plots.paths) < first:
            plots.draw(hit.id, lambda path: protein_plot(
                path, Protein(hit.id, hit.sequence), {"P(disordered)": hit.probs}, threshold,
                calls=hit.calls))
    return plot, plots.paths


def plot_proteins(plots: PlotFolder, proteins: Sequence[Protein],
                  curves: Mapping[str, Sequence[np.ndarray]], threshold: float, first: int,
                  highlight: str | None = None) -> None:
    """``protein_plot`` of the first ``first`` proteins into ``plots``."""
    for name, probs in curves.items():
        if len(probs) != len(proteins):
            raise ValueError(f"curve {name!r} has {len(probs)} arrays for {len(proteins)} proteins")
    for i, protein in enumerate(proteins[:max(first, 0)]):
        plots.draw(protein.id, lambda path: protein_plot(
            path, protein, {key: probs[i] for key, probs in curves.items()}, threshold,
            highlight))


def api_plotter(out: str | os.PathLike, fmt: str | None, inputs: outputs.Inputs, *,
                single: bool) -> Callable[[Sequence, float], list[Path]]:
    """What draws ``Predictor.plot``'s predictions (id, sequence, probs, calls each), the place
    checked first, before anything is predicted: one into the file ``out`` (its format by
    extension, which ``fmt`` must agree with when given), or each into the folder ``out``
    (``fmt``, default png), all or none (plot_folder.py)."""
    if not isinstance(out, (str, os.PathLike)):
        raise WrongType(f"plots go to a path (a file or a folder), not {type(out).__name__}")
    if single:
        format_of(out, fmt)
        outputs.check_output_file(out, inputs)
        return lambda hits, threshold: [protein_plot(
            out, Protein(hits[0].id, hits[0].sequence), {"P(disordered)": hits[0].probs},
            threshold, calls=hits[0].calls)]
    plots = PlotFolder(out, "png" if fmt is None else fmt, inputs)

    def draw(hits: Sequence, threshold: float) -> list[Path]:
        with plots:
            plot, written = prediction_plotter(plots, threshold, len(hits))
            for hit in hits:
                plot(hit)
        return list(written)
    return draw
