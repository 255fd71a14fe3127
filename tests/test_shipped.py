"""The predictor the kit ships: it loads through the kit's checked model reader, predicts both
label styles, answers the one-liners, and still gives the scores it was built with (stored
reference numbers: a rebuilt or changed model fails here until they are updated with it)."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np

import idr_kit
from idr_kit.predictor import SHIPPED

from runs import ROOT

SEQ = "MSEEKKPAPSPAPSEEGKKRKAEEGDKMSTNPKPQRKTKRNTNRRPQDVKFPGG"


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


def test_the_model_card_says_how_to_rebuild_it():
    card = (SHIPPED.parent / "MODEL_CARD.md").read_text()
    assert "python bench/build_predictor.py" in card and "CC BY 4.0" in card


def test_the_readmes_first_section_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert readme.split("\n## ")[1].startswith("Predict your proteins")
    code = re.search(r"<!-- python-api -->\n```python\n(.+?)```", readme, re.S).group(1)
    done = subprocess.run([sys.executable, "-c", code + "\nprint(len(probs), regions)"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    command = re.search(r"\nidr-predict -s (\w+)", readme).group(1)
    shown = subprocess.run([sys.executable, str(ROOT / "predict.py"), "-s", command],
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
    assert (result["auc"], result["aps"], result["f1_max"], result["f1"]) == \
           (0.930, 0.892, 0.815, 0.803)
