#!/usr/bin/env bash
# Issue 20: LSTM vs QRNN vs TCN, two seeds each, trained until early stopping ends them.
# Two lanes (one core each, 1 thread per run); every run resumes from its last.pt, so the
# script can be re-run after an interruption and continues where each run stopped.
#   bash benchmarks/architectures/train_all.sh            # logs in runs/arch_*/train.log
#   python benchmarks/architectures/table.py              # -> benchmarks/results/architectures.tsv
set -uo pipefail
cd "$(dirname "$0")/../.."
# The six finished runs are committed under benchmarks/architectures/runs/ (config, logs, best.pt,
# done): copied into runs/ when missing there, so table.py works from a clone and nothing is
# retrained (delete runs/arch_* and the snapshot to train from scratch).
for saved in benchmarks/architectures/runs/arch_*; do
    [ -d "$saved" ] && [ ! -e "runs/$(basename "$saved")" ] && mkdir -p runs && cp -r "$saved" runs/
done
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
