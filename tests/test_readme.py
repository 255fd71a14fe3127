"""The README's commands stay true: every submit.py / score.py line parses with today's options,
and the files it names exist. (CI runs its install and test blocks themselves: see .ci/run.)"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import score
import submit

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_commands(script: str) -> list[list[str]]:
    """Arguments of each ``python SCRIPT ...`` line in the README's code blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line.startswith(f"python {script}"):
            commands.append(shlex.split(line)[2:])
    return commands


def test_the_readme_shows_both_scripts():
    assert readme_commands("submit.py") and readme_commands("score.py")


@pytest.mark.parametrize("args", readme_commands("submit.py"), ids=" ".join)
def test_readme_submit_commands_parse(args):
    submit.build_parser().parse_args(args)


@pytest.mark.parametrize("args", readme_commands("score.py"), ids=" ".join)
def test_readme_score_commands_parse(args):
    score.build_parser().parse_args(args)


def test_shared_data_the_readme_names_exists(shared_data):
    for name in set(re.findall(r"\.\./shared/data/([\w.]+)", README)):
        assert (shared_data / name).is_file(), name


def test_install_and_test_blocks_are_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_block install" in ci and "readme_block test" in ci
    for name in ("install", "test"):
        assert re.search(rf"<!-- {name} -->\n```bash\n.+\n```\n<!-- /{name} -->", README), name
