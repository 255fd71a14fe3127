"""The README's and docs/'s commands stay true: every command line in their shell blocks is one
the kit's tests know (its parser reads it with today's options, or it is named below as
another tool's), and the files they name exist. (CI runs the README's install and test blocks
themselves: see .ci/run.)"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from idr_kit import submit
from runs import HANG

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "CHANGELOG.md"]
DOCS = "\n".join(page.read_text() for page in PAGES)
# Commands of other tools the pages show, each tested where it matters: pip and venv by CI's
# install (.ci/run), pytest by CI, docker by tests/test_image.py's build context, the
# launchers' arguments below, sed (docs/formats.md's accessions) by tests/test_new_user.py,
# snakemake (docs/scale.md's workflow) by tests/test_workflow.py; `export` and `#!/bin/bash` are
# the shell's.
OTHER_TOOLS = ("pip install", "python3 -m venv", ". .venv/bin/activate", "python -m pytest",
               "docker ", "export ", "sed ", "snakemake ")


def readme_lines() -> list[str]:
    """The pages' shell lines (continuations joined, comments and empty lines dropped)."""
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", DOCS, flags=re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [line for line in (line.split("#")[0].strip() for line in text.splitlines()) if line]


def readme_commands(script: str) -> list[list[str]]:
    """Arguments of each ``python SCRIPT ...`` line in the README's code blocks."""
    lines = [line.replace("$SLURM_ARRAY_TASK_ID", "1") for line in readme_lines()]  # a job array's
    return [shlex.split(line)[2:] for line in lines if line.startswith(f"python {script}")]


def console_commands(name: str) -> list[list[str]]:
    """Arguments of each line that runs the console command ``name`` (idr-predict ...)."""
    return [shlex.split(line)[1:] for line in readme_lines() if line.startswith(f"{name} ")]


KIT_COMMANDS = ("python submit.py", "python score.py", "python merge.py", "python -m idr_kit.commands.image",
                "idr-predict", "idr-submit", "idr-score", "idr-merge", "idr-image", "idr-fit")


def test_every_command_line_of_the_pages_is_one_the_tests_know():
    parts = [part.strip() for line in readme_lines() for part in line.split("&&")]
    launchers = r"(torchrun|accelerate launch) .*-m idr_kit\.commands\.fit "
    unknown = [part for part in parts if not part.startswith(KIT_COMMANDS + OTHER_TOOLS)
               and not re.match(launchers, part)]
    assert not unknown, unknown


@pytest.mark.parametrize("name, module", [
    ("idr-predict", "idr_kit.commands.predict"), ("idr-submit", "idr_kit.submit"),
    ("idr-score", "idr_kit.commands.score"), ("idr-merge", "idr_kit.commands.merge"),
    ("idr-image", "idr_kit.commands.image"), ("idr-fit", "idr_kit.commands.fit")])
def test_console_command_lines_parse(name, module):
    import importlib
    parser = importlib.import_module(module).build_parser()
    for args in console_commands(name):
        parser.parse_args(args)


def test_the_pages_link_to_files_that_exist():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name}: {target}"


def launcher_commands() -> list[tuple[str, list[str]]]:
    """(the track, its arguments) for each ``-m idr_kit.commands.fit`` line (torchrun ...)."""
    found = [re.search(r"-m idr_kit\.commands\.fit (.*)", line) for line in readme_lines()]
    return [(shlex.split(m.group(1))[1], shlex.split(m.group(1))) for m in found if m]


def test_the_pages_show_the_commands():
    assert readme_commands("submit.py")
    for name in ("idr-predict", "idr-score", "idr-merge", "idr-image"):
        assert console_commands(name), name


@pytest.mark.parametrize("args", readme_commands("submit.py"), ids=" ".join)
def test_readme_submit_commands_parse(args):
    submit.build_parser().parse_args(args)


def test_the_readmes_dask_call_names_the_api():
    import inspect

    code = re.search(r"<!-- dask -->\n```python\n(.+?)```", DOCS, re.S).group(1)
    assert "idr_kit.predict_file(" in code and "executor=client" in code
    from idr_kit.api import predict_file
    assert "executor" in inspect.signature(predict_file).parameters


@pytest.mark.parametrize("track, args", launcher_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_readme_launcher_commands_parse(track, args):
    from idr_kit.commands import fit
    parsed = fit.build_parser(shown=track).parse_args(args)
    if parsed.recipe:
        assert (ROOT / parsed.recipe).is_file()


def test_the_pages_show_a_launcher_for_the_esm_and_llm_tracks():
    assert {track for track, _ in launcher_commands()} == {"esm", "llm"}


def test_shared_data_the_readme_names_exists(shared_data):
    for name in set(re.findall(r"\.\./shared/data/([\w.]+)", DOCS)):
        assert (shared_data / name).is_file(), name


def test_install_and_test_blocks_are_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_block install" in ci and "readme_block test" in ci
    for name in ("install", "test"):
        assert re.search(rf"<!-- {name} -->\n```bash\n.+\n```\n<!-- /{name} -->", README), name


def readme_block(name: str) -> str:
    """The command between <!-- NAME --> and <!-- /NAME -->, as .ci/run reads install and test."""
    found = re.search(rf"<!-- {name} -->\n```bash\n(.+?)\n```\n<!-- /{name} -->", README)
    assert found, name
    return found.group(1)


def readme_runs() -> list[tuple[list[str], bool, str | None]]:
    """The README's ``python submit.py`` lines, top to bottom: (arguments, whether the README
    has set IDR_DATA by then, the folder the README says the line writes: its --out, else
    the path its comment ends with, else, for the main command, the one the text after it
    names)."""
    main = re.search(r"<!-- /main -->\n+It writes `([^`]+)`", README)
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", README, flags=re.S)
    found, with_data = [], False
    for line in "\n".join(blocks).replace("\\\n", " ").splitlines():
        command, _, comment = line.partition("#")
        with_data = with_data or command.startswith("export IDR_DATA=")
        if not command.startswith("python submit.py"):
            continue
        args = shlex.split(command)[2:]
        said = re.search(r"(runs/[\w.-]+/?)\s*$", comment)
        out = args[args.index("--out") + 1] if "--out" in args else None
        is_main = command.strip() == readme_block("main")
        found.append((args, with_data, out or (said.group(1) if said else None)
                      or (main.group(1) if is_main and main else None)))
    return found


def test_each_readme_run_writes_where_the_readme_says(tmp_path, monkeypatch):
    """Followed top to bottom in one folder, every run the README gives writes the folder the
    README names, and no two runs share one (the second would go to NAME-2, or be refused)."""
    from idr_kit.commands.common import track_in
    data = tmp_path / "competition"
    data.mkdir()
    for name in ("WSAA_data_public.pkl", "WSAA_data_test.pkl"):
        (data / name).write_bytes(b"")  # found by name; nothing is read here
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    runs = readme_runs()
    assert runs[0][0] == shlex.split(readme_block("main"))[2:] and not runs[0][1]
    writers: dict[Path, tuple] = {}
    for args, with_data, said in runs:
        if with_data:
            monkeypatch.setenv("IDR_DATA", str(data))
        else:
            monkeypatch.delenv("IDR_DATA", raising=False)
        assert said, f"the README does not say where {' '.join(args)} writes"
        spec = submit.spec_from_args(submit.build_parser(track_in(args)).parse_args(args), args)
        assert spec.out == Path(said), (args, spec.out)
        run = (tuple(args), with_data)
        assert writers.setdefault(spec.out, run) == run, f"{spec.out}: {writers[spec.out]}, {run}"
        if spec.model is None:  # what a later --model runs/NAME/model of the README loads
            (spec.out / "model").mkdir(parents=True, exist_ok=True)
    assert len(writers) == len(runs) >= 8


def test_the_main_command_runs_with_no_data_of_ones_own(tmp_path):
    """A newcomer's first command: a trained model, a submission and scores, on the demo data."""
    import os
    import subprocess
    import sys
    args = shlex.split(readme_block("main"))
    assert args[:2] == ["python", "submit.py"]
    env = {k: v for k, v in os.environ.items() if k != "IDR_DATA"}
    result = subprocess.run([sys.executable, str(ROOT / "submit.py"), *args[2:]], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=HANG)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bundled demo data" in result.stdout and "ROC-AUC" in result.stdout
    said = re.search(r"<!-- /main -->\n+It writes `([^`]+)`", README).group(1)
    out = tmp_path / said  # where the README says
    for name in ("submit.csv", "scores.json", "model/track.json", "config.json"):
        assert (out / name).is_file(), name
