"""The predictor the kit ships: it loads through the kit's checked model reader, predicts both
label styles, answers the one-liners, and still gives the scores it was built with (stored
reference numbers: a rebuilt or changed model fails here until they are updated with it)."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np

import idr_kit
from idr_kit.api import SHIPPED

from runs import ROOT

SEQ = "MSEEKKPAPSPAPSEEGKKRKAEEGDKMSTNPKPQRKTKRNTNRRPQDVKFPGG"
# valid.fasta's AUC, APS, F1-max and F1 at the pdb decision, as bench/build_predictor.py
# measured them (models/MODEL_CARD.md).
DEFAULT_FIGURES = (0.939, 0.904, 0.834, 0.825)
FAST_FIGURES = (0.930, 0.892, 0.812, 0.810)


def test_the_shipped_model_loads_and_predicts_both_styles():
    model = idr_kit.load()
    assert model.style == "pdb" and set(model.styles) == {"pdb", "nox"}
    probs = model.predict([SEQ, "MKV", "u"])
    assert [len(p) for p in probs] == [len(SEQ), 3, 1]
    assert all(p.dtype == np.float32 for p in probs)
    nox = idr_kit.load(style="nox").predict(SEQ)[0]
    assert not np.allclose(nox, probs[0])


def test_the_one_liners_answer():
    probs = idr_kit.predict_disorder(SEQ)
    regions = idr_kit.predict_idrs(SEQ)
    assert probs.shape == (len(SEQ),)
    assert all(0 <= a < b <= len(SEQ) and isinstance(a, int) for a, b in regions)


def test_the_model_card_says_how_to_rebuild_it_and_credits_metapredict():
    card = (SHIPPED.parent / "MODEL_CARD.md").read_text()
    assert "python bench/build_predictor.py" in card and "CC BY 4.0" in card
    assert "metapredict V3" in card and "MIT" in card


def test_metapredicts_network_ships_with_its_licence():
    licence = (SHIPPED / "metapredict_LICENSE.txt").read_text()
    assert "MIT License" in licence and "Emenecker" in licence
    assert (SHIPPED / "metapredict_v3.onnx").stat().st_size > 100_000


def test_the_fast_form_is_the_kits_own_network_alone():
    fast = idr_kit.load(fast=True)
    assert set(fast.styles) == {"pdb", "nox"} and fast.track.config.members == ()
    assert idr_kit.load().track.config.members == ("metapredict",)
    probs = fast.predict([SEQ])[0]
    assert probs.shape == (len(SEQ),) and not np.allclose(probs, idr_kit.predict_disorder(SEQ))


def test_the_readmes_first_section_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert readme.split("\n## ")[1].startswith("Predict your proteins")
    code = re.search(r"<!-- python-api -->\n```python\n(.+?)```", readme, re.S).group(1)
    done = subprocess.run([sys.executable, "-c", code + "\nprint(len(probs), regions)"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    command = re.search(r"\nidr-predict -s (\w+)", readme).group(1)
    shown = subprocess.run([sys.executable, str(ROOT / "commands" / "predict.py"), "-s", command],
                           capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 0 and "regions (1-based, inclusive)" in shown.stdout


def test_the_shipped_model_still_scores_what_its_card_says(shared_data):
    """valid.fasta through idr_kit.load(), at the pdb decision: the build's figures
    (bench/build_predictor.py, models/MODEL_CARD.md)."""
    from idr_kit.data.fasta import read_fasta
    from idr_kit.data.metrics import evaluate
    valid = read_fasta(shared_data / "valid.fasta")
    hits = idr_kit.load().predict_proteins(valid)
    result = evaluate(valid, {h.id: h.probs for h in hits}, {h.id: h.calls for h in hits})
    assert (result["auc"], result["aps"], result["f1_max"], result["f1"]) == DEFAULT_FIGURES


def test_the_fast_form_still_scores_what_its_card_says(shared_data):
    from idr_kit.data.fasta import read_fasta
    from idr_kit.data.metrics import evaluate
    valid = read_fasta(shared_data / "valid.fasta")
    hits = idr_kit.load(fast=True).predict_proteins(valid)
    result = evaluate(valid, {h.id: h.probs for h in hits}, {h.id: h.calls for h in hits})
    assert (result["auc"], result["aps"], result["f1_max"], result["f1"]) == FAST_FIGURES
