#!/usr/bin/env bash
# Ship a checkpoint as a bundled model (docs/MODEL_CARD.md, "Release steps"): ONNX fp32 +
# fp16 into the package, thresholds and applicability rules refitted in its metadata, the eager-PyTorch expectation the CI test checks the shipped file
# against, and the model card's evaluation (metrics.tsv, roc.png, pr.png).
#
#   bash benchmarks/release_default.sh runs/coding/ensemble_coding.pt            # -> default
#   bash benchmarks/release_default.sh runs/coding/ensemble1.pt fast             # -> fast
set -euo pipefail
checkpoint=${1:?usage: release_default.sh CHECKPOINT [NAME] [DATA_DIR]}
name=${2:-default}
data=${3:-../shared/data}
card=docs/model_card
[ "$name" = default ] || card=docs/model_card/$name
rnaloc-export "$checkpoint" --format onnx --fp16 -o rnaloc_infer/models --name "$name" --force
# thresholds (policy: MCC optimum, prevalence matching for classes with < 100 valid negatives or
# positives) from the shipped file's own valid probabilities, applicability rules from train
rnaloc-train refit-metadata "$name" --data-dir "$data" > "benchmarks/results/refit_$name.json"
python tests/data/make_default_expectation.py "$checkpoint" --onnx "rnaloc_infer/models/$name.onnx" \
    --out "tests/data/${name}_model_expected.json"
rnaloc-train evaluate "$name" "$data/dm3loc_valid.fa.gz" "$data/dm3loc_valid_labels.tsv" --out-dir "$card"
sha256sum "rnaloc_infer/models/$name.onnx" "rnaloc_infer/models/$name.fp16.onnx"
ls -l rnaloc_infer/models/
