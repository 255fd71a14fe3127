#!/usr/bin/env bash
# The GPU figures in one prepared run, sized to finish within 10 minutes on one H200:
#   1. esm2_t33_650M (random bf16 weights): one LoRA training step at the recipe's budget
#      (16 windows of 1022 residues) and at 4 windows, with and without per-layer activation
#      checkpointing: peak memory and residues/s (bench_esm_memory.py);
#   2. the same architecture's prediction pass against a bare fair-esm forward (bench_token_clf.py);
#   3. Qwen2.5-7B's architecture: a head-mode training step and forward on 4 x 512 residues,
#      and generate mode (one residue decoded per step, so small: 4 x 128 to train, about 256
#      residues to decode), each against its Hugging Face peer (bench_llm.py);
#   4. with two GPUs or more, a 2-process torchrun LoRA smoke test of the esm track.
#
#     bench/gpu_check.sh          # on a GPU machine; figures go to $OUT (else runs/gpu_check)
#     bench/gpu_check.sh cpu      # the same steps at tiny sizes on a CPU (the tests run this)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-gpu}
out=${OUT:-runs/gpu_check}
mkdir -p "$out"
if [ "$mode" = cpu ]; then
  device=cpu; esm=esm2_t6_8M_UR50D; windows="1"; target_windows=1; llm=tiny
  head="--length 32 --batch 2 --steps 1 --repeats 1 --residues 200"
  generate="--length 16 --batch 2 --steps 1 --repeats 1 --residues 40"
  predict="--residues 1500 --repeats 1"; threads="--threads 1"
else
  device=cuda; esm=esm2_t33_650M_UR50D; windows="4 16"; target_windows=16; llm=7b
  head="--length 512 --batch 4 --steps 2 --repeats 1 --residues 4000"
  generate="--length 128 --batch 4 --steps 2 --repeats 1 --residues 256"
  predict="--residues 30000 --repeats 2"; threads=""
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
fi
step() { echo "== $1 ($(date +%T))"; }

step "esm LoRA training step: memory and speed"
python bench/bench_esm_memory.py --device "$device" --sizes "$esm" --windows $windows \
  --target-windows "$target_windows" --json "$out/esm_memory.json" | tee "$out/esm_memory.txt"

step "esm prediction pass"
python bench/bench_token_clf.py --device "$device" --sizes "$esm" --modes full --heads default \
  $predict | tee "$out/esm_predict.txt"

step "Qwen2.5 head mode"
python bench/bench_llm.py --device "$device" --model "$llm" --modes head $head $threads \
  | tee "$out/llm_head.txt"

step "Qwen2.5 generate mode"
python bench/bench_llm.py --device "$device" --model "$llm" --modes generate $generate $threads \
  | tee "$out/llm_generate.txt"

gpus=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$mode" != cpu ] && [ "$gpus" -ge 2 ]; then
  step "torchrun, 2 processes"
  torchrun --nproc_per_node 2 -m idr_kit.commands.fit --track esm --backbone "$esm" --from-scratch \
    --set mode=lora --set max_steps=3 --set epochs=1 --train data/demo/train.fasta \
    --out "$out/torchrun" | tee "$out/torchrun.txt"
fi
step "done"
