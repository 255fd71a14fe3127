"""``python -m idr_kit.token_clf.fit``: fit.py with the esm track by default (``--track bert`` too)."""
import sys

from idr_kit.fit import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m idr_kit.token_clf.fit", default_track="esm"))
