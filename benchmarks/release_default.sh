#!/usr/bin/env bash
# Ship a checkpoint as the bundled default model (docs/MODEL_CARD.md, "Release steps"):
# ONNX fp32 + fp16 into the package, the eager-PyTorch expectation the CI test checks the
# shipped file against, and the model card's evaluation (metrics.tsv, roc.png, pr.png).
#
#   bash benchmarks/release_default.sh runs/qrnn_motif_long/ensemble.pt
set -euo pipefail
checkpoint=${1:?usage: release_default.sh CHECKPOINT [DATA_DIR]}
data=${2:-../shared/data}
rnaloc-export "$checkpoint" --format onnx --fp16 -o rnaloc_infer/models --name default
python tests/data/make_default_expectation.py "$checkpoint"
rnaloc-train evaluate default "$data/dm3loc_valid.fa.gz" "$data/dm3loc_valid_labels.tsv" --out-dir docs/model_card
sha256sum rnaloc_infer/models/default.onnx rnaloc_infer/models/default.fp16.onnx
ls -l rnaloc_infer/models/
