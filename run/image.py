"""The competition's submission image: its build context (docs/image.md). ``write_context``
writes the Dockerfile, run.sh, the model's recorded files and the wheels into a new
folder; idr-image (commands/image.py) parses its options.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from idr_kit.data.errors import FileRefused, UserError
from idr_kit.data.outputs import check_output_folder
from idr_kit.run.folder import check_writable
from idr_kit.data.reading import open_regular
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import TRACK_FILE, load_model
from idr_kit.tracks import needed_extras


ROOT = Path(__file__).resolve().parents[1]  # the checkout (the package's root)
DISTRIBUTION = "idr-kit"
BASE_IMAGE = "python:3.11-slim"


# What python:3.11-slim (Debian 12, glibc 2.36, x86_64) installs: wheels for glibc 2.28 and older.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux_2_12_x86_64", "manylinux2010_x86_64", "manylinux_2_5_x86_64",
             "manylinux1_x86_64")


DOCKERFILE = """\
# The WSAA submission image: reads /saisdata/WSAA_data_test.pkl, writes /saisresult/submit.csv.
# Builds with no network: every package comes from wheels/ (built by idr-image).
ARG BASE={base}
FROM ${{BASE}}
COPY wheels /app/wheels
RUN pip install --no-index --no-cache-dir --find-links /app/wheels "{requirement}" \\
    && rm -rf /app/wheels
COPY model /app/model
COPY run.sh /app/run.sh
ENV IDR_OFFLINE=1 HF_HUB_OFFLINE=1
WORKDIR /app
CMD ["bash", "/app/run.sh"]
"""


RUN_SH = """\
#!/usr/bin/env bash
# The competition's entry point: predict the test pickle with the model beside this script and
# write submit.csv whole (a reader never sees half a file).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${{IDR_DATA_DIR:-/saisdata}}
result=${{IDR_RESULT_DIR:-/saisresult}}
model=${{IDR_MODEL_DIR:-$here/model}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
idr-submit --model "$model" --test "$data/{test_name}" --out "$work/run"
mkdir -p "$result"
cp "$work/run/submit.csv" "$result/.submit.csv.tmp"
mv "$result/.submit.csv.tmp" "$result/submit.csv"
"""


TEST_NAME = "WSAA_data_test.pkl"


CONTEXT = ("model", "wheels", "Dockerfile", "run.sh")  # what a context holds, and only that


def requirement(extras: list[str]) -> str:
    return DISTRIBUTION + (f"[{','.join(extras)}]" if extras else "")


def write_context(args) -> Path:
    """The build context, in a new folder: everything is made in a hidden staging folder
    inside it and moved into place at the end, so a failure leaves no half context (and a
    folder the command made is removed again)."""
    out: Path = args.out
    check_output_folder(out, [("the model", args.model)])  # the output policy: data/outputs.py
    if out.exists() and any(out.iterdir()):
        raise FileRefused(f"{out}: not empty; the build context goes into a new folder")
    saved = load_model(args.model, Runtime(downloads=False))  # checked before it is copied
    extras = needed_extras(saved.track.name, saved.track.config)
    sources = tracked_sources()
    made = not out.exists()
    check_writable(out)
    staging = Path(tempfile.mkdtemp(prefix=".idr-image.", dir=out))
    try:
        copy_model(args.model, saved.meta["files"], staging / "model")
        wheels = staging / "wheels"
        own = _kit_wheel(sources, staging)
        _pip([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels),
              "--only-binary=:all:", "--python-version", args.python_version,
              *[f"--platform={tag}" for tag in args.platform or PLATFORMS],
              "--find-links", str(wheels), *args.pip_arg,
              f"{requirement(extras)} @ {own.resolve().as_uri()}"], "the wheels", staging)
        (staging / "Dockerfile").write_text(DOCKERFILE.format(base=args.base,
                                                              requirement=requirement(extras)))
        (staging / "run.sh").write_text(RUN_SH.format(test_name=TEST_NAME))
        (staging / "run.sh").chmod(0o755)
        for name in CONTEXT:
            os.replace(staging / name, out / name)
    except BaseException:
        shutil.rmtree(out if made else staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {out}: Dockerfile, run.sh, model/ ({saved.track.name}), wheels/ "
          f"({len(list((out / 'wheels').glob('*.whl')))} wheels for Python "
          f"{args.python_version})\nbuild and push: docker build -t REGISTRY/NAME:TAG {out} && "
          "docker push REGISTRY/NAME:TAG")
    return out


def copy_model(model: Path, records: dict, where: Path) -> None:
    """The model's track.json and the files it records, each read as a regular file (no
    link is followed): nothing else of the folder goes into the image."""
    for name in [TRACK_FILE, *records]:
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        with open_regular(model / name, links=False) as source, open(where / name, "xb") as copy:
            shutil.copyfileobj(source, copy)


def tracked_sources(root: Path = ROOT) -> list[str]:
    """The checkout's files that git tracks: what the kit's wheel is built from (an untracked
    file, a build/ folder or a planted module never goes into it)."""
    if not (root / "pyproject.toml").is_file():
        raise UserError("idr-image builds the kit's wheel from its source: run it from a "
                        "checkout of the kit (pip install -e .)")
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                                check=True)
    except (OSError, subprocess.CalledProcessError):
        raise UserError(f"idr-image builds the kit's wheel from the files git tracks in its "
                        f"checkout, and {root} is not a git checkout (or git is missing)") from None
    others = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--others",
                             "--exclude-standard", "--", "*.py"], capture_output=True).stdout
    left = [name for name in others.decode().split("\0") if name]
    if left:
        print(f"note: left out of the kit's wheel, as git does not track them: "
              f"{', '.join(left[:5])}{' ...' if len(left) > 5 else ''} (git add them to build "
              "them in)", file=sys.stderr)
    return [name for name in listed.stdout.decode().split("\0")
            if name and (root / name).is_file() and not (root / name).is_symlink()]


def _kit_wheel(sources: list[str], staging: Path) -> Path:
    """The kit's own wheel, built from a copy of its tracked files in ``staging`` (the build's
    own files, build/ and *.egg-info, land there, not in the checkout)."""
    tree = staging / "source"
    for name in sources:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    wheels = staging / "wheels"
    _pip([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
          str(wheels), str(tree)], "the kit's wheel", staging)
    return next(wheels.glob("idr_kit-*.whl"))


def _pip(command: list[str], what: str, staging: Path) -> None:
    """pip, writing nowhere but ``staging``: no cache, no version check, its temporary files
    there (TMPDIR)."""
    (staging / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(staging / "tmp"), "PIP_NO_CACHE_DIR": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=staging)
    if done.returncode:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise UserError(f"pip could not make {what}: {lines[-1] if lines else done.returncode}"
                        " (making the wheels needs PyPI, or the index --pip-arg names)")
