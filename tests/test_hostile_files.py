"""Files made to break the kit (the second hostile pass's 13 defects, one test or more each):
data loss, links, recipes, memory, a bad row, damaged model files, ensemble member names, ids
no output can carry, a neighbouring config.json, a library's refusals. Run through submit.py
and score.py as a user would (tests/test_run_inputs.py has the first pass). Each ends in exit
status 2 and one line naming the file and the problem, or in a normal run where the input is
fine after all; nothing outside the output folder changes.
"""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from runs import HANG, one_line_error, reseal, run_tool
from conftest import dump_pickle

QUICK = ["--track", "w2v", "--folds", "0", "--set", "vector_size=20", "--threshold", "0.3"]


def run(script: str, *args, cwd: Path | None = None, env_extra: dict | None = None):
    return run_tool(script, *args, **({"cwd": cwd} if cwd else {}), env_extra=env_extra)


def run_in_2_gb(script: str, *args):
    """The command with its address space held to 2 GiB: a file that makes it ask for more
    fails it (a MemoryError), whatever memory this machine has."""
    import resource
    import subprocess
    import sys

    from runs import ROOT

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=HANG, preexec_fn=limit)


@pytest.fixture(scope="module")
def models(tmp_path_factory, small_competition) -> Path:
    """A w2v run, an lgbm run and a bilstm run, each a finished output folder with its model."""
    folder = tmp_path_factory.mktemp("models")
    for track, extra in (("w2v", ["--set", "vector_size=20"]),
                         ("lgbm", ["--set", "num_rounds=20"]),
                         ("bilstm", ["--set", "epochs=1", "--set", "hidden=8",
                                     "--set", "embed=8", "--set", "conv_channels=8"])):
        result = run("submit.py", "--track", track, "--folds", "0", "--threshold", "0.3",
                     *extra, "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl",
                     "--out", folder / track)
        assert result.returncode == 0, result.stderr[-3000:]
    return folder


def copy_model(models: Path, track: str, where: Path) -> Path:
    import shutil
    shutil.copytree(models / track / "model", where)
    return where


def predict(model: Path, small_competition: Path, out: Path, *more):
    return run("submit.py", "--model", model, "--test", small_competition / "test.pkl", "--out", out, *more)


# ---- 1. data loss -----------------------------------------------------------------------------

def test_1_overwrite_never_empties_the_folder_that_holds_the_model(models, small_competition, tmp_path):
    import shutil
    run_dir = tmp_path / "R"
    shutil.copytree(models / "w2v", run_dir)
    refused = predict(run_dir / "model", small_competition, run_dir)
    line = one_line_error(refused, str(run_dir), "model")
    assert "--overwrite" not in line  # the way it points to would delete the model
    one_line_error(predict(run_dir / "model", small_competition, run_dir, "--overwrite"), "model")
    assert (run_dir / "model" / "track.json").is_file() and (run_dir / "submit.csv").is_file()


def test_1_a_run_never_empties_a_folder_holding_one_of_its_inputs(models, small_competition, tmp_path):
    import shutil
    run_dir = tmp_path / "R"
    shutil.copytree(models / "w2v", run_dir)
    shutil.copy(small_competition / "test.pkl", run_dir / "test.pkl")
    one_line_error(run("submit.py", "--model", models / "w2v" / "model", "--test",
                       run_dir / "test.pkl", "--out", run_dir, "--overwrite"), "test.pkl")
    assert (run_dir / "test.pkl").is_file()


# ---- 2. links ---------------------------------------------------------------------------------

@pytest.fixture
def precious(tmp_path) -> Path:
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    (folder / ".notes.tmp").write_text("keep me")
    return folder


def intact(precious: Path) -> bool:
    return ((precious / "thesis.txt").read_text() == "years of work"
            and (precious / ".notes.tmp").read_text() == "keep me")


@pytest.mark.parametrize("planted", [".write-test.tmp", ".idr-run.lock"])
def test_2_a_link_planted_in_the_output_folder_is_never_followed(models, small_competition, tmp_path,
                                                                 precious, planted):
    out = tmp_path / "O"
    out.mkdir()
    (out / planted).symlink_to(precious / "thesis.txt")
    (out / "foreign.txt").write_text("someone's")
    result = predict(models / "w2v" / "model", small_competition, out)
    assert result.returncode == 2, result.stderr[-2000:]
    assert intact(precious)


def test_2_the_cache_folders_write_probe_follows_no_link(models, small_competition, tmp_path, precious):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".write-test.tmp").symlink_to(precious / "thesis.txt")
    run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl",
        "--out", tmp_path / "O", "--set", f"cache_dir={cache}")
    assert intact(precious)


def test_2_a_link_inside_a_claimed_folder_is_refused_and_its_target_untouched(models, small_competition,
                                                                             tmp_path, precious):
    out = tmp_path / "O"
    args = [*QUICK, "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl", "--out", out]
    assert run("submit.py", *args).returncode == 0
    (out / "plots").symlink_to(precious)  # a folder the run would write into, or clear
    one_line_error(run("submit.py", *args), "link")
    assert intact(precious) and sorted(p.name for p in precious.iterdir()) == [".notes.tmp",
                                                                              "thesis.txt"]


# ---- 3. recipes -------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, words", [
    ({"use_length": "false"}, ["use_length", "true or false", "str"]),
    ({"smoothing": "false"}, ["smoothing", "true or false"]),
    ({"num_leaves": [15]}, ["num_leaves", "whole number", "list"]),
    ({"learning_rate": "0.1"}, ["learning_rate", "a number"]),
    ({"composition_widths": "5,11"}, ["composition_widths", "list of int"]),
])
def test_3_recipe_values_are_typed_like_set(small_competition, tmp_path, settings, words):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"_track": "lgbm", **settings}))
    one_line_error(run("submit.py", "--recipe", recipe, "--train", small_competition / "train.pkl",
                       "--test", small_competition / "test.pkl", "--out", tmp_path / "O"), str(recipe), *words)
    assert not (tmp_path / "O").exists()


# ---- 4. memory --------------------------------------------------------------------------------

def write_npz_member(path: Path, name: str, shape: tuple, dtype="<f4") -> None:
    """An .npz whose one array is all zeros of ``shape``, written in chunks: a small file that
    asks for a great deal of memory when loaded."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    total = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            chunk = bytes(1 << 24)
            for start in range(0, total, len(chunk)):
                member.write(chunk[:min(len(chunk), total - start)])


@pytest.mark.parametrize("sealed", [False, True])
def test_4_a_small_vectors_file_cannot_ask_for_gigabytes(models, small_competition, tmp_path, sealed):
    model = copy_model(models, "w2v", tmp_path / "m")
    write_npz_member(model / "residue_vectors.npz", "table", (25, 40_000_000))
    assert (model / "residue_vectors.npz").stat().st_size < 8_000_000
    if sealed:
        reseal(model)
    one_line_error(run_in_2_gb("submit.py", "--model", model, "--test", small_competition / "test.pkl",
                               "--out", tmp_path / "O"), "residue_vectors.npz")


@pytest.mark.parametrize("track, key, value", [
    ("lgbm", "composition_widths", [200_001]), ("lgbm", "num_leaves", 10 ** 9),
    ("bilstm", "hidden", 100_000), ("bilstm", "layers", 10_000)])
def test_4_a_saved_setting_that_asks_for_gigabytes_is_refused(models, small_competition, tmp_path, track,
                                                              key, value):
    model = copy_model(models, track, tmp_path / "m")
    meta = json.loads((model / "track.json").read_text())
    meta["config"][key] = value
    (model / "track.json").write_text(json.dumps(meta))
    one_line_error(predict(model, small_competition, tmp_path / "O"), "track.json", key)


def test_4_a_saved_decision_that_asks_for_gigabytes_is_refused(models, small_competition, tmp_path):
    model = copy_model(models, "w2v", tmp_path / "m")
    meta = json.loads((model / "track.json").read_text())
    meta["decision"].update(kind="median", width=1_000_000_001)
    (model / "track.json").write_text(json.dumps(meta))
    one_line_error(predict(model, small_competition, tmp_path / "O"), "track.json", "width")


def test_4_a_pickle_of_repeated_references_is_refused_before_it_is_expanded(small_competition, tmp_path):
    seq = "MKVLAAGGSEEK" * 10_000  # 120,000 residues, pickled once and referred to 300 times
    items = [{"id": f"P{i}", "sequence": seq} for i in range(300)]
    bomb = dump_pickle(tmp_path / "bomb.pkl", items)
    assert bomb.stat().st_size < 200_000
    one_line_error(run("submit.py", "--model", "default", "--test", bomb,
                       "--out", tmp_path / "O"), "bomb.pkl", "residues")


def test_4_an_npz_prediction_cannot_ask_for_gigabytes(small_competition, tmp_path):
    from idr_kit.data.fasta import read_fasta
    first = read_fasta(small_competition / "valid.fasta")[0].id
    write_npz_member(tmp_path / "p.npz", first, (600_000_000,))  # 2.4 GB declared, 2 MB on disk
    result = run_in_2_gb("commands/score.py", "--ref", small_competition / "valid.fasta", "--pred", tmp_path / "p.npz")
    # Its one protein is dropped, leaving none: an error that says why, not a MemoryError.
    assert result.returncode == 2, result.stdout[-2000:]
    assert "1 with an unreadable prediction" in result.stderr
    assert "MemoryError" not in result.stderr


# ---- 5. score.py: one bad row -----------------------------------------------------------------

def caid_lines(small_competition: Path) -> list[str]:
    from idr_kit.data.fasta import read_fasta
    out = []
    for p in read_fasta(small_competition / "valid.fasta"):
        out.append(f">{p.id}")
        out += [f"{i}\t{aa}\t0.{(i * 37) % 1000:03d}" for i, aa in enumerate(p.seq, 1)]
    return out


def test_5_a_nan_score_drops_its_protein_and_the_rest_is_scored(small_competition, tmp_path):
    lines = caid_lines(small_competition)
    lines[5] = lines[5].rsplit("\t", 1)[0] + "\tnan"
    (tmp_path / "p.caid").write_text("\n".join(lines) + "\n")
    result = run("commands/score.py", "--ref", small_competition / "valid.fasta", "--pred", tmp_path / "p.caid", "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    assert scores["dropped"] == 1 and scores["proteins"] == 5
    assert "unreadable" in result.stdout


# ---- 6. damaged model files -------------------------------------------------------------------

@pytest.mark.parametrize("sealed", [False, True])
@pytest.mark.parametrize("track, name, damage", [
    ("lgbm", "lgbm_model.txt", "truncate"),
    ("lgbm", "residue_vectors.npz", "truncate"),
    ("w2v", "residue_vectors.npz", "other shape"),
    ("bilstm", "bilstm.pt", "truncate"),
    ("bilstm", "bilstm.pt", "other shape"),
    ("bilstm", "bilstm.pt", "missing key")])
def test_6_a_damaged_model_file_is_one_line_and_the_folder_is_left_alone(models, small_competition, tmp_path,
                                                                         track, name, damage,
                                                                         sealed):
    model = copy_model(models, track, tmp_path / "m")
    path = model / name
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:6000 if name.endswith(".txt") else 200])
    elif name.endswith(".npz"):
        with open(path, "wb") as handle:
            np.savez(handle, table=np.zeros((7, 3), np.float32))
    else:
        import torch
        state = torch.load(path, weights_only=True)
        key = next(iter(state))
        if damage == "missing key":
            del state[key]
        else:
            state[key] = torch.zeros(3, 3)
        torch.save(state, path)
    if sealed:
        reseal(model)
    out = tmp_path / "O"
    out.mkdir()
    (out / "mine.txt").write_text("a user's file")
    one_line_error(predict(model, small_competition, out), name)
    assert (out / "mine.txt").read_text() == "a user's file"


# ---- 7. ensemble members are names ------------------------------------------------------------

@pytest.mark.parametrize("members", [["/abs/other/model"], [".."], ["w2v", "w2v"]])
def test_7_an_ensembles_members_are_track_names_never_paths(small_competition, tmp_path, members):
    out = tmp_path / "E"
    trained = run("submit.py", "--track", "ensemble", "--members", "w2v", "--folds", "2",
                  "--set", "member_settings=w2v.vector_size=20", "--train", small_competition / "train.pkl",
                  "--test", small_competition / "test.pkl", "--out", out)
    assert trained.returncode == 0, trained.stderr[-2000:]
    record = json.loads((out / "model" / "ensemble.json").read_text())
    record["members"] = members
    (out / "model" / "ensemble.json").write_text(json.dumps(record))
    reseal(out / "model")
    one_line_error(predict(out / "model", small_competition, tmp_path / "O"), "ensemble.json", "members")


# ---- 8. score.py reads long submissions -------------------------------------------------------

def test_8_score_reads_the_kits_own_submission_of_a_very_long_protein(tmp_path):
    from idr_kit.data.competition import write_submission
    seq = "MKVLSEEKAP" * 14_000  # 140,000 residues
    labels = "".join("1" if i % 7 else "0" for i in range(len(seq)))
    (tmp_path / "ref.fasta").write_text(f">long\n{seq}\n{labels}\n")
    write_submission(tmp_path / "s.csv", ["long"], [seq], [np.ones(len(seq), np.uint8)])
    result = run("commands/score.py", "--ref", tmp_path / "ref.fasta", "--pred", tmp_path / "s.csv")
    assert result.returncode == 0, result.stderr[-2000:]


# ---- 9. ids no output can carry ---------------------------------------------------------------

def test_9_an_id_too_long_for_the_outputs_is_refused_when_read(small_competition, tmp_path):
    train = pickle.loads((small_competition / "train.pkl").read_bytes())[:20]
    train[3] = {**train[3], "id": "P" * 70_000}
    line = one_line_error(run("submit.py", *QUICK, "--train", dump_pickle(tmp_path / "t.pkl", train),
                              "--test", small_competition / "test.pkl", "--out", tmp_path / "O"),
                          "t.pkl", "id")
    assert len(line) < 600
    assert not (tmp_path / "O").exists()


# ---- 10. score.py does not trust a neighbouring config.json blindly ---------------------------

@pytest.mark.parametrize("value", [5, True, "0.4", None])
def test_10_a_runs_threshold_that_is_not_one_is_refused(models, small_competition, tmp_path, value):
    import shutil
    run_dir = tmp_path / "run"
    shutil.copytree(models / "w2v", run_dir)
    record = json.loads((run_dir / "config.json").read_text())
    record["threshold"] = value
    (run_dir / "config.json").write_text(json.dumps(record))
    one_line_error(run("commands/score.py", "--ref", small_competition / "valid.fasta", "--pred",
                       run_dir / "probs.npz"), "config.json", "threshold")


# ---- 12. a library's refusal of a user's value is that value's problem ------------------------

@pytest.mark.parametrize("track, setting", [
    ("lgbm", "min_data_in_leaf=-1"), ("lgbm", "num_leaves=1"), ("lgbm", "learning_rate=0"),
    ("bilstm", "epochs=0"), ("bilstm", "accumulate=0"), ("bilstm", "token_budget=0"),
    ("w2v", "vector_size=0")])
def test_12_a_setting_a_library_refuses_is_one_line_naming_it(small_competition, tmp_path, track, setting):
    one_line_error(run("submit.py", "--track", track, "--set", setting, "--folds", "0",
                       "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl",
                       "--out", tmp_path / "O"), setting.split("=")[0])


def test_12_deeply_nested_json_is_one_line(small_competition, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "r.json").write_text('{"_track": "w2v", "x": ' + deep + "}")
    one_line_error(run("submit.py", "--recipe", tmp_path / "r.json", "--out", tmp_path / "O"),
                   "r.json")
    (tmp_path / "d.json").write_text(deep)
    one_line_error(run("submit.py", *QUICK, "--train", tmp_path / "d.json", "--test",
                       small_competition / "test.pkl", "--out", tmp_path / "O2"), "d.json")


# ---- 13. the small things ---------------------------------------------------------------------

@pytest.mark.parametrize("pid", [None, 12345])
def test_13_a_disprot_id_that_is_not_text_is_refused(small_competition, tmp_path, pid):
    entry = {"disprot_id": pid, "sequence": "MKVLAAGG", "regions": []}
    (tmp_path / "d.json").write_text(json.dumps({"data": [entry], "size": 1}))
    one_line_error(run("submit.py", "--model", "default", "--test", tmp_path / "d.json",
                       "--out", tmp_path / "O"), "d.json")


def test_13_a_refused_run_leaves_no_lock_behind(models, small_competition, tmp_path):
    here = tmp_path / "cwd"
    here.mkdir()
    (here / "foreign.txt").write_text("x")
    model = copy_model(models, "w2v", tmp_path / "m")
    result = run("submit.py", "--model", model, "--test", small_competition / "test.pkl", "--out", ".",
                 cwd=here)
    assert result.returncode == 2
    one_line_error(predict(model, small_competition, model), "model")
    assert not (here / ".idr-run.lock").exists() and not (model / ".idr-run.lock").exists()


def test_13_an_enormous_id_makes_a_short_error_line(small_competition, tmp_path):
    items = [{"id": list(range(3_000_000)), "sequence": "MKV"}]
    line = one_line_error(run("submit.py", "--model", "default", "--test",
                              dump_pickle(tmp_path / "t.pkl", items), "--out", tmp_path / "O"), "t.pkl")
    assert len(line) < 600


@pytest.mark.parametrize("setting", ["valid_fraction=nan", "terminus_cap=-1", "learning_rate=inf",
                                     "valid_fraction=2"])
def test_13_non_finite_and_out_of_range_settings_are_refused(small_competition, tmp_path, setting):
    one_line_error(run("submit.py", "--track", "lgbm", "--set", setting, "--train",
                       small_competition / "train.pkl", "--test", small_competition / "test.pkl", "--out", tmp_path / "O"),
                   setting.split("=")[0])
