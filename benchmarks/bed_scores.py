"""What BED/GFF3 `score` and `top_class` look like with a bundled model: the validation mRNAs.

Why: a genome browser shades features by `score` and shows `top_class`, so docs/GENOME.md
("Scores") and the README quote how these spread. The validation split is a FASTA, not a
genome, so this applies the BED writer's own functions (``rnaloc_infer.profile``:
``ProfileRow.top`` over ``named_classes``, ``lift_score``; what
``rnaloc_infer.output.genome_formats`` calls per transcript) to the model's probabilities of
every validation mRNA (the CLI's precision: the int8 twin on the CPU). It writes the
percentiles of round(1000 x lift score) (the BED score) and, for comparison, of round(1000 x
the top probability) (the score before the lift ranking), and how many records each class is
`top_class` of, how many a never-labelled class would have led, and how many it has the
highest probability of.

    python benchmarks/bed_scores.py --model default --out benchmarks/results/bed_scores_valid.tsv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from rnaloc_infer import Predictor
from rnaloc_infer.output.files import atomic_output
from rnaloc_infer.profile import ProfileRow, lift_score, named_classes

ROOT = Path(__file__).resolve().parents[1]
PERCENTILES = (5, 25, 50, 75, 95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--fasta", type=Path, default=ROOT.parent / "shared" / "data" / "dm3loc_valid.fa.gz")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    predictor = Predictor(args.model, device="cpu")
    classes = list(predictor.classes)
    probs = np.array([[p.probabilities[c] for c in classes] for p in predictor.predict_fasta(args.fasta)])
    lift = ProfileRow(predictor.info.prevalence)
    named = named_classes(predictor.thresholds)
    tops = [lift.top(row, named) for row in probs]
    unrestricted = [lift.top(row)[0] for row in probs]
    bed = np.round([1000 * lift_score(rel) for _, rel in tops])
    by_probability = np.round(1000 * probs.max(axis=1))
    rows = []
    for name, values in (("bed_score_lift", bed), ("bed_score_top_probability", by_probability)):
        rows += [[name, f"p{q}", f"{np.percentile(values, q):.0f}"] for q in PERCENTILES]
    for c, name in enumerate(classes):
        rows.append(["top_class", name, str(sum(top == c for top, _ in tops))])
        rows.append(["top_class_if_every_class_could_lead", name, str(sum(top == c for top in unrestricted))])
        rows.append(["highest_probability", name, str(int(np.sum(probs.argmax(axis=1) == c)))])
    rows.append(["records", "all", str(len(probs))])
    with atomic_output(args.out) as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["figure", "key", "value"])
        writer.writerows(rows)
    print(args.out.read_text(), end="")


if __name__ == "__main__":
    main()
