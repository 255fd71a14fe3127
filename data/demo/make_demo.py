"""Rebuild the bundled demo data from ../shared/data (run from the checkout's root).

    python data/demo/make_demo.py

train.fasta: every 6th protein of train.pkl (DisProt, the competition's NOX-style labels);
test.fasta: every 5th protein of valid.fasta (CAID2 Disorder-PDB, homology-filtered against
the training proteins). Both as CAID 3-line FASTA: id, sequence, labels (1, 0, -).
"""
from pathlib import Path

from idr_kit.data.load import read_proteins

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
HERE = Path(__file__).resolve().parent
PICKS = {"train.fasta": ("train.pkl", 6), "test.fasta": ("valid.fasta", 5)}


def main() -> None:
    for name, (source, step) in PICKS.items():
        proteins = read_proteins(SHARED / source)[::step]
        text = "".join(f">{p.id}\n{p.seq}\n{p.label_string()}\n" for p in proteins)
        (HERE / name).write_text(text)
        print(f"{name}: {len(proteins)} proteins, {sum(len(p) for p in proteins):,} residues "
              f"from {source}")


if __name__ == "__main__":
    main()
