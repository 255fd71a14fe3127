"""How the kit installs: one package name, console commands, recipes and demo data inside."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from test_layers import package_modules

ROOT = Path(__file__).resolve().parents[1]
GENERIC = ("data", "ensemble", "tracks", "submit", "baselines", "model", "run", "commands", "api",
           "token_clf", "llm_sft", "bilstm", "nn", "convnet", "distill")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built from the checkout's tracked files (the build leaves nothing in the checkout)."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(source)], check=True, capture_output=True)
    return zipfile.ZipFile(next(out.glob("*.whl")))


def test_an_install_adds_one_package_name(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"idr_kit"}
    assert not tops & set(GENERIC)


def test_the_package_holds_the_product_and_not_its_tests(wheel):
    names = set(wheel.namelist())
    product = [f"idr_kit/{path}" for path in package_modules().values()]
    assert len(product) > 60 and "idr_kit/nn/train.py" in product
    assert not [module for module in product if module not in names]
    assert not [n for n in names if n.startswith(("idr_kit/tests/", "idr_kit/bench/"))]
    assert "idr_kit/recipes/esm2_650m_lora_gpu.json" in names
    assert {"idr_kit/data/demo/train.fasta", "idr_kit/data/demo/test.fasta",
            "idr_kit/data/demo/README.md"} <= names
    # the Snakemake workflow, where idr-predict --workflow says it is
    assert {"idr_kit/workflow/Snakefile", "idr_kit/workflow/config.yaml",
            "idr_kit/workflow/profiles/default/config.yaml",
            "idr_kit/workflow/profiles/slurm/config.yaml"} <= names


def test_the_wheel_declares_the_console_commands(wheel):
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    for line in ("idr-submit = idr_kit.submit:main", "idr-score = idr_kit.commands.score:main",
                 "idr-fit = idr_kit.commands.fit:main"):
        assert line in text


@pytest.mark.parametrize("command", ["idr-submit", "idr-score", "idr-fit"])
def test_console_commands_run(command):
    result = subprocess.run([str(Path(sys.executable).parent / command), "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "usage" in result.stdout


def test_a_users_own_data_and_score_modules_do_not_shadow_the_kit(tmp_path):
    (tmp_path / "data.py").write_text("raise SystemExit('the user data.py was imported')\n")
    (tmp_path / "score.py").write_text("raise SystemExit('the user score.py was imported')\n")
    code = "import idr_kit.commands.score, idr_kit.submit; print(idr_kit.commands.score.__file__)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == ROOT / "commands" / "score.py"
