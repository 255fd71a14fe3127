"""The one output policy (data/outputs.py), through every door that writes: idr-predict's -o,
--submission and --plot, submit.py --out, the API's predict_file, and every atomic write.
Issue 30: 1, 3, 8, 9, 12, 13, 17, 18, and spellings no issue names."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

import idr_kit
from idr_kit.api import SHIPPED, SHIPPED_FAST
from idr_kit.commands import predict
from idr_kit.data.atomic import atomic_write, remove_stale_temporaries
from idr_kit.data.errors import FileRefused
from idr_kit.data.outputs import SHIPPED_MODELS, is_safe_stem, safe_names
from idr_kit.data.probs import read_npz, read_npz_for, write_npz

from runs import ROOT

SEQ = "MSEEKKPAPSPAPSEEGKKRKAEEGDKMSTNPKPQRKTKRNTNRRPQDVKFPGG"


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "in" / "small.fasta"
    path.parent.mkdir()
    path.write_text(f">a\n{SEQ}\n>b\n{SEQ[:20]}\n")
    return path


def refused(capsys, argv, *words) -> str:
    """idr-predict ARGV in-process: exit status 2, one line on stderr holding ``words``."""
    code = predict.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    for word in words:
        assert word in err[0], err[0]
    return err[0]


def make_node(path: Path, kind: str) -> Path:
    if kind == "device":
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    return path


def kind(path: Path) -> int:
    return stat.S_IFMT(os.lstat(path).st_mode)


# ---- 1: never a device, FIFO or socket -------------------------------------------------------

@pytest.mark.parametrize("node", ["device", "fifo", "socket"])
@pytest.mark.parametrize("door", ["-o", "--submission"])
def test_an_output_that_is_a_device_fifo_or_socket_is_refused_before_any_work(
        small, tmp_path, capsys, node, door):
    out = make_node(tmp_path / ("out.csv" if door == "-o" else "devnull"), node)
    before = kind(out)
    refused(capsys, [small, "--fast", door, out], str(out))
    assert kind(out) == before  # still the node it was


@pytest.mark.parametrize("node", ["device", "fifo"])
def test_atomic_write_never_renames_over_a_node(tmp_path, node):
    out = make_node(tmp_path / "x", node)
    with pytest.raises(FileRefused, match="never replaces"):
        with atomic_write(out) as handle:
            handle.write("x")
    target = tmp_path / "y"
    with pytest.raises(FileRefused):  # one that appears while the file is written
        with atomic_write(target) as handle:
            handle.write("x")
            make_node(target, node)
    assert kind(out) != stat.S_IFREG and kind(target) != stat.S_IFREG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x", "y"]  # no temporary left


def test_a_run_folder_holding_a_fifo_is_refused_and_the_fifo_kept(tmp_path):
    from idr_kit.run.folder import RunFolder
    out = tmp_path / "run"
    with RunFolder(out, {"run": 1}):
        (out / "submit.csv").write_text("old")
    (out / "submit.csv").unlink()
    make_node(out / "submit.csv", "fifo")
    with pytest.raises(FileRefused, match="FIFO"):
        with RunFolder(out, {"run": 1}):  # the same run: a resume would clear the folder
            pass
    assert kind(out / "submit.csv") == stat.S_IFIFO


@pytest.mark.parametrize("door", ["predict_file", "idr-image"])
def test_a_folder_output_that_is_a_fifo_is_refused_by_every_door(small, tmp_path, capsys, door):
    out = make_node(tmp_path / "out", "fifo")
    if door == "predict_file":
        with pytest.raises(FileRefused, match="FIFO"):
            idr_kit.predict_file(small, out, SHIPPED_FAST)
    else:
        from idr_kit.commands import image
        assert image.main(["--model", str(SHIPPED_FAST), "--out", str(out)]) == 2
        assert "FIFO" in capsys.readouterr().err
        assert image.main(["--model", str(SHIPPED_FAST), "--out", str(SHIPPED / "img")]) == 2
        assert "shipped models" in capsys.readouterr().err and not (SHIPPED / "img").exists()
    assert kind(out) == stat.S_IFIFO


# ---- 3: identity by device and inode -------------------------------------------------------

@pytest.fixture
def bound(tmp_path):
    """(A, B): B a bind mount of the folder A; skipped where mount is refused."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    done = subprocess.run(["mount", "--bind", str(a), str(b)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount --bind refused here ({done.stderr.strip()[:100]})")
    try:
        yield a, b
    finally:
        subprocess.run(["umount", str(b)], check=True)


def test_an_output_folder_that_is_a_bind_mount_of_the_tests_folder_keeps_the_test(
        small, bound):
    a, b = bound
    idr_kit.predict_file(small, a, SHIPPED_FAST, workers=1)  # A: a run folder of the kit
    test = a / "t.fasta"
    test.write_bytes(small.read_bytes())
    with pytest.raises(FileRefused, match="holds the test file"):
        idr_kit.predict_file(test, b, SHIPPED_FAST, workers=1)
    assert test.read_bytes() == small.read_bytes()


def test_an_output_file_through_a_bind_mount_of_the_model_is_refused(small, tmp_path,
                                                                     capsys):
    model = tmp_path / "m"
    model.mkdir()
    done = subprocess.run(["mount", "--bind", str(SHIPPED_FAST), str(model)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount --bind refused here ({done.stderr.strip()[:100]})")
    try:
        refused(capsys, [small, "--fast", "-o", model / "out.json"], "lies inside")
        assert not (SHIPPED_FAST / "out.json").exists()
    finally:
        (SHIPPED_FAST / "out.json").unlink(missing_ok=True)
        subprocess.run(["umount", str(model)], check=True)


def test_an_input_reached_by_another_path_is_refused(small, tmp_path, capsys):
    os.link(small, tmp_path / "twin.csv")  # a hard link: the same file
    refused(capsys, [small, "--fast", "-o", tmp_path / "twin.csv"], "is an input file")
    (tmp_path / "up").symlink_to(tmp_path)  # a folder reached by two paths
    with pytest.raises(FileRefused, match="holds the test file"):
        idr_kit.predict_file(small, tmp_path / "up" / "in", SHIPPED_FAST)


# ---- 8: no output in any shipped model's folder --------------------------------------------

@pytest.mark.parametrize("flags, folder", [(["--fast"], SHIPPED), ([], SHIPPED_FAST),
                                           (["--fast"], SHIPPED_MODELS)])
@pytest.mark.parametrize("door", ["-o", "--submission"])
def test_no_shipped_model_folder_takes_an_output(small, capsys, flags, folder, door):
    out = folder / ("policy-test.json" if door == "-o" else "policy-test.csv")
    try:
        refused(capsys, [small, *flags, door, out], "shipped models")
        assert not out.exists()
    finally:
        out.unlink(missing_ok=True)


def test_no_run_folder_goes_into_a_shipped_model(small):
    out = SHIPPED / "policy-run"
    try:
        with pytest.raises(FileRefused, match="shipped models"):
            idr_kit.predict_file(small, out, SHIPPED_FAST)
        assert not out.exists()
    finally:
        if out.exists():
            import shutil
            shutil.rmtree(out)


def test_idr_merge_writes_into_no_shipped_model_nor_a_fifo(small, tmp_path, capsys):
    from idr_kit.commands import merge
    shards = [tmp_path / f"s{i}" for i in (1, 2)]
    for i, folder in enumerate(shards, 1):
        idr_kit.predict_file(small, folder, SHIPPED_FAST, workers=1, shard=(i, 2),
                             chunk_residues=40)
    fifo = make_node(tmp_path / "merged", "fifo")
    for out, words in ((SHIPPED_FAST / "merged", "shipped models"), (fifo, "FIFO")):
        try:
            assert merge.main([*map(str, shards), "--out", str(out)]) == 2
            assert words in capsys.readouterr().err
        finally:
            if out != fifo and out.exists():
                import shutil
                shutil.rmtree(out)
    assert kind(fifo) == stat.S_IFIFO and not (SHIPPED_FAST / "merged").exists()


# ---- spellings -------------------------------------------------------------------------------

def test_one_file_named_twice_under_two_spellings_is_refused(small, tmp_path, capsys):
    out = tmp_path / "o.csv"
    refused(capsys, [small, "--fast", "-o", out, "--submission",
                     tmp_path / "in" / ".." / "o.csv"], "the same file")
    out.write_text("")
    os.link(out, tmp_path / "o2.csv")
    refused(capsys, [small, "--fast", "-o", out, "--submission", tmp_path / "o2.csv"],
            "the same file")


def test_a_trailing_slash_a_linked_parent_and_a_relative_path_are_seen_through(
        small, tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as stop:  # the parser's: Path would drop the slash
        predict.main([str(small), "--fast", "-o", f"{tmp_path / 'x.json'}/"])
    assert stop.value.code == 2 and "names a folder" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    (tmp_path / "linked").symlink_to(SHIPPED_FAST)
    refused(capsys, [small, "--fast", "-o", tmp_path / "linked" / "x.json"], "lies inside")
    monkeypatch.chdir(SHIPPED)
    refused(capsys, [small, "--fast", "-o", "x.json"], "shipped models")
    assert not (SHIPPED / "x.json").exists()


# ---- 9: the mode of a replaced file is kept --------------------------------------------------

def test_a_replaced_output_keeps_its_mode_and_a_new_one_follows_the_umask(small, tmp_path,
                                                                          capsys):
    out, sub = tmp_path / "o.csv", tmp_path / "s.csv"
    for path in (out, sub):
        path.write_text("old")
        path.chmod(0o600)
    assert predict.main([str(small), "--fast", "-o", str(out), "--submission", str(sub)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(sub.stat().st_mode) == 0o600
    assert "old" not in out.read_text()
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "new.txt") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


# ---- 12: a closed pipe or stdout --------------------------------------------------------------

def test_a_reader_that_goes_away_ends_the_command_quietly():
    code = ("import sys; from idr_kit.commands.predict import main; "
            "sys.exit(main(['--fast', '-s', 'MSEEKKPAPS', '-s', 'MKVL']))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # as `| head -0` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "internal error" not in err and "Exception" not in err


def test_a_closed_stdout_is_one_line(small, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of `>&-`
    code = predict.main([str(small), "--fast"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "standard output is closed" in err[0], err


def test_a_closed_stdout_never_lends_its_number_to_an_output(tmp_path):
    from idr_kit.commands.common import guarded
    saved = os.dup(1)
    try:
        os.close(1)  # as `>&-` starts a command
        opened = []
        guarded("test", False, lambda: opened.append(os.open(tmp_path / "f", os.O_CREAT)))
        assert opened[0] != 1 and stat.S_ISCHR(os.fstat(1).st_mode)  # held by devnull
        os.close(opened[0])
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# ---- 13: a refused run leaves no folder it made -----------------------------------------------

def test_a_refused_run_leaves_no_folder_it_made(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.fasta"
    bad.write_text(">a\nMSEE1KK\n")
    monkeypatch.chdir(tmp_path)
    code = predict.main([str(bad), "--fast", "-o", "new_out/x/y.json", "--submission",
                         "new_sub/s.csv"])
    assert code == 2, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fasta"]
    with pytest.raises(Exception):
        idr_kit.predict_file(bad, tmp_path / "new_run" / "r", SHIPPED_FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fasta"]


def test_a_refused_run_leaves_no_plot_folder_it_made(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    bad = tmp_path / "bad.fasta"
    bad.write_text(f">a\n{SEQ}\n>b\nMSEE1KK\n")
    monkeypatch.chdir(tmp_path)
    code = predict.main([str(bad), "--fast", "--plot", "new/a/b", "-o", "new_out/x/y.json"])
    assert code == 2, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fasta"]


# ---- 17: a dead writer's temporary file, whatever its age --------------------------------------

def test_a_killed_writers_temporary_file_is_removed_by_a_rerun_at_once(tmp_path):
    target = tmp_path / "out.txt"
    code = ("import sys, time; from idr_kit.data.atomic import atomic_write\n"
            f"with atomic_write({str(target)!r}) as h:\n"
            "    h.write('half'); h.flush(); print('ready', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:
        proc.kill()
        proc.wait()
    assert len(list(tmp_path.glob(".out.txt.*.tmp"))) == 1  # what SIGKILL left, seconds old
    with atomic_write(target) as handle:
        handle.write("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_cleaner_never_takes_the_file_of_a_writer_that_has_just_made_it(tmp_path):
    target, stop, failures = tmp_path / "t.txt", threading.Event(), []

    def clean():
        while not stop.is_set():
            remove_stale_temporaries(target)
    cleaner = threading.Thread(target=clean)
    cleaner.start()
    try:
        for i in range(60):
            try:
                with atomic_write(target) as handle:
                    handle.write(str(i))
            except OSError as err:
                failures.append(err)
    finally:
        stop.set()
        cleaner.join()
    assert failures == [] and target.read_text() == "59"


# ---- 18: .npz members are never shaped like a path ---------------------------------------------

HOSTILE_IDS = ["../../../evil", "/abs/path", "-rf", "a\\b", ".hidden", "__ids__", "_x",
               "ok", "ok.npy"]


def test_npz_member_names_are_safe_and_the_ids_come_back(tmp_path):
    probs = {pid: np.full(i + 1, 0.5, np.float32) for i, pid in enumerate(HOSTILE_IDS)}
    path = tmp_path / "deep" / "p.npz"
    write_npz(path, probs)
    names = zipfile.ZipFile(path).namelist()
    assert all(is_safe_stem(n) or n.startswith("_") for n in names)
    assert not any("/" in n or "\\" in n or n.startswith(("-", ".")) for n in names)
    zipfile.ZipFile(path).extractall(tmp_path / "deep" / "x")  # a naive extractor
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["p.npz", "x"]
    back = read_npz(path)
    assert list(back) == HOSTILE_IDS and all(np.array_equal(back[k], probs[k]) for k in probs)
    found, unreadable, unread = read_npz_for(path, {k: len(v) for k, v in probs.items()})
    assert set(found) == set(HOSTILE_IDS) and not unreadable and not unread
    with np.load(path, allow_pickle=False) as archive:  # numpy's own reader
        index = dict(archive["__ids__"].tolist())
        assert set(index) == {n[:-4] for n in names if n.startswith("_")} - {"__ids__"}
        assert set(index.values()) == set(HOSTILE_IDS) - {"ok"}
        assert np.array_equal(archive["ok"], probs["ok"])


def test_an_old_npz_named_by_its_ids_is_still_read(tmp_path):
    path = tmp_path / "old.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for pid in ("../up", "__ids__"):
            with archive.open(f"{pid}.npy", "w") as member:
                np.lib.format.write_array(member, np.zeros(3, np.float32))
    assert sorted(read_npz(path)) == ["../up", "__ids__"]


def test_idr_predict_npz_of_hostile_ids_extracts_inside_its_folder(tmp_path, capsys):
    fasta = tmp_path / "h.fasta"
    fasta.write_text(f">../../../evil\n{SEQ}\n>/abs/path\n{SEQ}\n>-rf\n{SEQ}\n")
    out = tmp_path / "o" / "p.npz"
    assert predict.main([str(fasta), "--fast", "-o", str(out)]) == 0, capsys.readouterr().err
    names = zipfile.ZipFile(out).namelist()  # what `unzip` would make of them, unsanitized
    assert not any("/" in n or n.startswith(("-", ".")) for n in names), names
    assert sorted(read_npz(out)) == sorted(["../../../evil", "/abs/path", "-rf"])


def test_safe_names_are_unique_and_indexed():
    ids = ["a/b", "a_b", "a_b_2", "-rf", "A", "a"]
    names, index = safe_names(ids, ".png")
    assert len(set(names)) == len(ids)
    assert names[1:3] == ["a_b.png", "a_b_2.png"] and names[4:] == ["A.png", "a.png"]
    assert index == {names[0]: "a/b", names[3]: "-rf"}
    assert not any(n.startswith("-") or "/" in n for n in names)
