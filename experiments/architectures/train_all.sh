#!/usr/bin/env bash
# Issue 20: LSTM vs QRNN vs TCN, two seeds each, trained until early stopping ends them.
# Two lanes (one core each, 1 thread per run); every run resumes from its last.pt, so the
# script can be re-run after an interruption and continues where each run stopped.
#   bash experiments/architectures/train_all.sh            # logs in runs/arch_*/train.log
#   python experiments/architectures/table.py --runs runs  # -> experiments/results/architectures.tsv
set -uo pipefail
cd "$(dirname "$0")/../.."
# The six finished runs' configs and per-epoch logs are recorded in
# experiments/results/architectures_runs.jsonl (what table.py reads by default). Their
# checkpoints (best.pt, for table.py --onnx and member_blend.py) were in git until commit
# 4349890; to use them without retraining:
#   git archive 4349890 benchmarks/architectures/runs | tar -x && cp -r benchmarks/architectures/runs runs
run() {  # kind seed
    local out="runs/arch_${1}_s${2}"
    mkdir -p "$out"
    if [ -f "$out/done" ]; then return; fi
    local resume=""; [ -f "$out/last.pt" ] && resume="--resume"
    nice -n 5 rnaloc-train fit "configs/architectures/$1.toml" --seed "$2" --out "$out" --device cpu --quiet $resume \
        >>"$out/train.log" 2>&1 && touch "$out/done"
}
# Two lanes, one core each; the split only balances their wall time.
lane_a() { run tcn 1; run tcn 2; run qrnn 2; }
lane_b() { run qrnn 1; run lstm 1; run lstm 2; }
lane_a & lane_b & wait
