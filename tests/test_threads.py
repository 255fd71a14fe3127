"""Threads on a busy machine: OpenMP's and ONNX Runtime's waiting threads sleep, and every
library is told the CPUs this process may use (its affinity, a cgroup quota), not the machine's.

The figures (a LightGBM fit 6 to 7 times as fast beside busy loops) are bench/bench_busy.py's;
here what the libraries were told, as they report it.
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest

from idr_kit.data.cpus import cgroup_quota, cpu_budget, usable_cpus
from idr_kit.model.runtime import Runtime
from runs import HANG, ROOT

AFFINITY = len(os.sched_getaffinity(0))


def openmp_settings(code: str, **env: str) -> str:
    """What every libgomp loaded by ``code`` says it read (OMP_DISPLAY_ENV), on stderr."""
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**clean, "OMP_DISPLAY_ENV": "VERBOSE", **env}, timeout=HANG)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stderr


def spin_counts(display: str) -> list[str]:
    return re.findall(r"GOMP_SPINCOUNT = '(\d+)'", display)


# libgomp as LightGBM loads it (lib_lightgbm.so links the system's libgomp.so.1), at once
GOMP = "import idr_kit, ctypes; ctypes.CDLL('libgomp.so.1')"


def test_openmp_threads_sleep_while_they_wait():
    # Unset, libgomp spins a waiting thread 300,000 times before it sleeps: beside other work
    # the spinning holds the CPU that the thread it waits for needs.
    assert spin_counts(openmp_settings(GOMP)) == ["0"]


def test_the_lightgbm_track_loads_openmp_asleep():
    counts = spin_counts(openmp_settings("import idr_kit.baselines.lgbm"))  # scikit-learn's too
    assert counts and set(counts) == {"0"}, counts


def test_a_wait_policy_the_user_set_stands():
    display = openmp_settings(GOMP, OMP_WAIT_POLICY="ACTIVE")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in display and spin_counts(display) != ["0"]
    assert spin_counts(openmp_settings(GOMP, GOMP_SPINCOUNT="1000")) == ["1000"]


def test_importing_the_kit_loads_no_openmp_before_the_policy_is_set():
    code = ("import idr_kit, os; maps = open('/proc/self/maps').read(); "
            "print(os.environ['OMP_WAIT_POLICY'], 'libgomp' in maps)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=HANG,
                            env={k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"})
    assert result.stdout.split() == ["PASSIVE", "False"], result.stderr[-2000:]


def test_onnx_runtime_threads_sleep_and_count_the_usable_cpus():
    from idr_kit.model.saved import load_model
    options = load_model(ROOT / "models" / "predictor-fast").track.session().get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == cpu_budget()


def test_lightgbm_is_told_the_usable_cpus(monkeypatch):
    import numpy as np
    from idr_kit.tracks import make_track
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    labels = np.array([0, 1, 1])
    assert make_track("lgbm")._params(labels)["num_threads"] == usable_cpus()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a Snakemake job's threads: 1
    assert make_track("lgbm")._params(labels)["num_threads"] == 1
    assert make_track("lgbm", runtime=Runtime(threads=3))._params(labels)["num_threads"] == 3


@pytest.mark.parametrize("value, threads", [("1", 1), ("1,1", 1), ("4096", AFFINITY),
                                            ("0", AFFINITY), ("-2", AFFINITY), ("two", AFFINITY),
                                            ("", AFFINITY), (" 1 ", 1)])
def test_omp_num_threads_caps_the_default_threads(monkeypatch, value, threads):
    from idr_kit.run.stream import available_cores
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    monkeypatch.setattr("idr_kit.data.cpus.usable_cpus", lambda: AFFINITY)
    assert Runtime().cpu_threads == cpu_budget() == available_cores() == threads
    assert Runtime(threads=5).cpu_threads == 5  # the caller's setting stands


# ---- the CPUs a cgroup quota gives ----------------------------------------------------------

def cgroups(tmp_path, proc: str, files: dict[str, str]):
    """A fake /sys/fs/cgroup under tmp_path and a fake /proc/self/cgroup naming ``proc``."""
    for name, text in files.items():
        (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / name).write_text(text)
    (tmp_path / "cgroup").write_text(proc)
    return tmp_path / "fs", tmp_path / "cgroup"


@pytest.mark.parametrize("files, quota", [
    ({"job/cpu.max": "150000 100000\n"}, 1.5),
    ({"job/cpu.max": "max 100000\n"}, 0.0),
    ({"job/cpu.max": "max 100000\n", "cpu.max": "50000 100000\n"}, 0.5),  # the parent's
    ({"job/cpu.max": "300000 100000\n", "cpu.max": "100000 100000\n"}, 1.0),
    ({}, 0.0)])
def test_a_v2_quota_is_the_tightest_on_the_way_up(tmp_path, files, quota):
    assert cgroup_quota(*cgroups(tmp_path, "0::/job\n", files)) == quota


def test_a_v1_quota_is_read_from_the_cpu_hierarchy(tmp_path):
    files = {"cpu,cpuacct/slurm/job/cpu.cfs_quota_us": "50000\n",
             "cpu,cpuacct/slurm/job/cpu.cfs_period_us": "100000\n",
             "cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
             "memory/slurm/job/cpu.cfs_quota_us": "1000\n"}  # not the cpu hierarchy: not read
    root, proc = cgroups(tmp_path, "4:memory:/slurm/job\n3:cpu,cpuacct:/slurm/job\n", files)
    assert cgroup_quota(root, proc) == 0.5
    assert usable_cpus(root, proc) == 1


@pytest.mark.parametrize("text", ["", "garbage\n", "100000\n", "1 0\n", "-5 100000\n",
                                  "0 100000\n", "1e9 1\n", "9" * 70000, "\x00\xff 1\n",
                                  "100000 100000 7\n"])
def test_an_unreadable_quota_limits_nothing(tmp_path, text):
    root, proc = cgroups(tmp_path, "0::/job\n", {"job/cpu.max": text})
    assert cgroup_quota(root, proc) == 0.0 and usable_cpus(root, proc) == AFFINITY


def test_a_quota_file_that_is_no_plain_file_limits_nothing_and_never_blocks(tmp_path):
    root, proc = cgroups(tmp_path, "0::/../b\n1:cpu:/c\n", {"b/x": ""})
    os.mkfifo(root / "b" / "cpu.max")  # a FIFO with no writer: a blocking read waits for ever
    (root / "cpu.max").mkdir()
    os.mknod(root / "cpu", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    assert cgroup_quota(root, proc) == 0.0
    assert cgroup_quota(root, tmp_path / "missing") == 0.0
    assert cgroup_quota(root, root / "b" / "cpu.max") == 0.0  # the /proc file itself a FIFO


def test_the_quota_is_rounded_up_and_never_above_the_affinity(tmp_path):
    for text, cpus in (("1 100000", 1), ("150000 100000", min(2, AFFINITY)),
                       ("6400000 100000", AFFINITY)):
        assert usable_cpus(*cgroups(tmp_path, "0::/\n", {"cpu.max": text})) == cpus
