"""A build context for the competition's submission image, from a trained model.

    python -m idr_kit.commands.image --model runs/lgbm/model --out image/      (idr-image)
    docker build -t REGISTRY/NAME:TAG image/ && docker push REGISTRY/NAME:TAG

The WSAA challenge runs an image with no network: it reads ``/saisdata/WSAA_data_test.pkl``,
runs ``/app/run.sh`` and expects ``/saisresult/submit.csv``. The context holds everything the
image needs to build offline too:

    Dockerfile   FROM the BASE build argument (default python:3.11-slim); installs the wheels
                 with --no-index, then copies the model and run.sh
    run.sh       idr-submit --model /app/model on the test pickle, submit.csv written whole
                 (IDR_DATA_DIR, IDR_RESULT_DIR and IDR_MODEL_DIR override the three paths)
    model/       the model, checked by the kit's model reader before it is copied
    wheels/      the kit's own wheel and a wheel of every package it needs with the model's
                 extras, for the image's Python and platform (--python-version, --platform)

Making the wheels needs the network (pip download, from PyPI or the indexes --pip-arg names);
building and running the image does not. A model whose track needs torch pulls torch's wheel:
``--pip-arg=--extra-index-url=https://download.pytorch.org/whl/cpu`` takes the CPU build.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idr_kit.commands.common import command_parser, guarded
from idr_kit.model.shipped import MODEL_HELP, model_path
from idr_kit.run.folder import terminate_as_interrupt
from idr_kit.run.image import BASE_IMAGE, PLATFORMS, write_context


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("idr-image", __doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, metavar="NAME|DIR", help=MODEL_HELP)
    parser.add_argument("--out", type=Path, required=True, help="the build context to write")
    parser.add_argument("--base", default=BASE_IMAGE,
                        help="the image's default base (docker build --build-arg BASE=... "
                             "overrides it); its Python must match --python-version")
    parser.add_argument("--python-version", default="3.11",
                        help="the image's Python, for the wheels (default: %(default)s)")
    parser.add_argument("--platform", action="append", metavar="TAG",
                        help="a wheel platform the image takes, repeatable (default: the "
                             f"manylinux tags of {BASE_IMAGE}: {', '.join(PLATFORMS)})")
    parser.add_argument("--pip-arg", action="append", default=[], metavar="ARG",
                        help="more arguments for pip download (an --extra-index-url ...)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    terminate_as_interrupt()
    return guarded(parser.prog, args.debug, lambda: write_context(with_model_folder(args)))


def with_model_folder(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with --model read as a shipped model's name or a folder (model/shipped.py)."""
    args.model = model_path(args.model)
    return args


if __name__ == "__main__":
    sys.exit(main())
