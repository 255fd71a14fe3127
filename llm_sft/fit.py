"""``python -m idr_kit.llm_sft.fit``: fit.py for the llm track, under torchrun or accelerate launch too."""
import sys

from idr_kit.fit import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m idr_kit.llm_sft.fit", default_track="llm"))
