#!/usr/bin/env bash
# Rebuild train_mmseqs.tsv: MMseqs2 clusters of every training protein in ../shared/data
# (train.pkl and train_pdb_style.fasta, by id), at the homology rule the data's README uses to
# filter them against valid.fasta (identity >= 30 %, e-value <= 1e-3, alignment >= 30
# residues). Needs MMseqs2 (Debian: apt-get install mmseqs2). The table is MMseqs2's
# representative<TAB>member output, which `submit.py --groups` reads: proteins of one cluster
# then share a fold, so out-of-fold figures are figures on unseen protein families.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python - "$here/../../../shared/data" "$work/train.fasta" <<'PY'
import sys
from idr_kit.data.load import read_proteins
seen, out = set(), []
for name in ("train.pkl", "train_pdb_style.fasta"):
    for p in read_proteins(f"{sys.argv[1]}/{name}"):
        if p.id not in seen:
            seen.add(p.id)
            out.append(f">{p.id}\n{p.seq}\n")
open(sys.argv[2], "w").write("".join(out))
PY
mmseqs easy-cluster "$work/train.fasta" "$work/clu" "$work/tmp" --min-seq-id 0.3 -c 0.0 \
  --min-aln-len 30 -e 1e-3 --threads 2 -v 1 > /dev/null
cp "$work/clu_cluster.tsv" "$here/train_mmseqs.tsv"
echo "$(cut -f1 "$here/train_mmseqs.tsv" | sort -u | wc -l) clusters of $(wc -l < "$here/train_mmseqs.tsv") ids"
