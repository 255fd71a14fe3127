"""Running the kit's command lines as a user does: one helper for every test that needs it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = {"IDR_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
# Seconds a command or a wait may take before a test calls it hung: never a slow run's limit.
# A loaded machine is slow (the README's demo command took 5 minutes beside other work), and a
# test must not fail for that; how fast the kit is, bench/ measures.
HANG = 3600


def run_tool(script: str, *args, cwd: Path = ROOT, env: dict | None = None,
             env_extra: dict | None = None, module: str | None = None,
             timeout: float = HANG) -> subprocess.CompletedProcess:
    """``python SCRIPT ARGS`` from the checkout (or ``python -m MODULE ARGS``), in ``cwd``;
    ``env`` replaces the environment, ``env_extra`` adds to it."""
    environment = {**(os.environ if env is None else env), **(env_extra or {})}
    command = [sys.executable, *(["-m", module] if module else [str(ROOT / script)]),
               *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """The user's-mistake outcome every command owes: exit status 2, no traceback, one line on
    stderr holding each of ``words``. Returns that line."""
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def run_submit(*args, **kwargs) -> subprocess.CompletedProcess:
    return run_tool("submit.py", *args, **kwargs)


def reseal(model: Path) -> None:
    """Record a tampered model's files in its track.json, as a crafted folder would, so that a
    test reaches the checks beyond the file digests (saved.check_files)."""
    import json
    from idr_kit.model.saved import TRACK_FILE, file_records
    meta = json.loads((Path(model) / TRACK_FILE).read_text())
    meta["files"] = file_records(Path(model))
    (Path(model) / TRACK_FILE).write_text(json.dumps(meta))
