"""Where the benchmarks read proteins: ../shared/data, else the kit's bundled demo data.

A lent GPU machine gets a copy of the checkout only, without ../shared; the GPU benchmarks then
time the same code on the demo's real proteins (the figures they report are speed and memory).
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEMO = {"valid.fasta": "test.fasta", "train.pkl": "train.fasta"}


def data_file(name: str) -> Path:
    found = SHARED / name
    return found if found.is_file() else ROOT / "data" / "demo" / DEMO[name]
