"""Does the ER attribution sit on the signal peptide? (docs/EXPLAIN.md, "Biological check")

mRNAs of secreted and membrane proteins reach the ER because the signal peptide encoded at
the start of their CDS is recognised during translation. So for validation records
labelled ER whose longest ORF starts with a predicted signal peptide, in-silico mutagenesis
should put more ER attribution on the first 90 nt of the CDS (30 codons) than elsewhere.

Signal-peptide rule (a simple h-region test, no trained predictor): among residues 2-35 of
the longest ORF's protein there is a 10-residue window whose mean Kyte-Doolittle
hydropathy is >= ``--h-threshold`` (2.0), and the ORF has at least 100 codons. Control
group: ER-labelled records whose protein fails the rule (maximum window < 1.0).

Score per position: the mean change in P(ER) over the three substitutions (negative = the
sequence there supports ER). Per record: the mean score over the CDS's first 90 nt and
over the rest of the transcript; summary: how often the first 90 nt are more negative, and
the median difference. Repeated without the variants that make or break an ATG or a stop
codon (they move the longest ORF itself, e.g. a broken start codon, and so every coding
feature at once): what is left are codon changes that keep the ORF.

    python benchmarks/ism_signal_peptide.py --data-dir ../shared/data --max-length 1600 --records 12
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path

import numpy as np

from rnaloc_infer import Predictor
from rnaloc_infer.features.coding import FEATURE_NAMES, coding_features, longest_orf
from rnaloc_infer.explain import explain_codes
from rnaloc_infer.explain.tracks import position_scores
from rnaloc_infer.features.variants import moves_orf_signals, substitutions
from rnaloc_infer.fasta import read_fasta

log = logging.getLogger("ism_signal_peptide")
SIGNAL = FEATURE_NAMES.index("signal_core_hydropathy")  # max 10-residue window in residues 1-35
HEAD_NT = 90


def er_records(data_dir: Path) -> list:
    labels = {}
    with open(data_dir / "dm3loc_valid_labels.tsv") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            labels[row["id"]] = row["ER"] == "1"
    return [r for r in read_fasta(str(data_dir / "dm3loc_valid.fa.gz")) if labels.get(r.id)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--model", default="default")
    parser.add_argument("--max-length", type=int, default=1600, help="only records up to this length (ISM cost)")
    parser.add_argument("--records", type=int, default=12, help="records per group (shortest first)")
    parser.add_argument("--h-threshold", type=float, default=2.0)
    parser.add_argument("--out", default="benchmarks/results/ism_signal_peptide.tsv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    predictor = Predictor(args.model, device="cpu")
    er = predictor.classes.index("ER")
    groups = {"signal peptide": [], "no signal peptide": []}
    for record in sorted(er_records(Path(args.data_dir)), key=lambda r: r.length):
        start, codons = longest_orf(record.codes)
        if record.length > args.max_length or codons < 100 or record.length - (start + HEAD_NT) < 90:
            continue
        core = coding_features(record.codes)[SIGNAL]
        group = "signal peptide" if core >= args.h_threshold else "no signal peptide" if core < 1.0 else None
        if group and len(groups[group]) < args.records:
            groups[group].append(record)
    rows = []
    for group, records in groups.items():
        for record in records:
            began = time.perf_counter()
            explanation = explain_codes(predictor.session, record.codes)
            score = position_scores(explanation.delta, record.codes)["mean"][:, er]
            start, _ = longest_orf(record.codes)
            head = np.zeros(record.length, dtype=bool)
            head[start : start + HEAD_NT] = True
            # The same without the variants that make or break an ATG or a stop codon (they move
            # the longest ORF itself, e.g. a broken start codon): what is left are codon changes.
            positions, bases = substitutions(record.codes)
            keep = ~moves_orf_signals(record.codes, positions, bases)
            kept = np.zeros((record.length, 4), dtype=bool)
            kept[positions[keep], bases[keep]] = True
            counts = kept.sum(axis=1)
            same_orf = np.where(counts > 0, (explanation.delta[:, :, er] * kept).sum(axis=1) / np.maximum(counts, 1), np.nan)
            rows.append(dict(group=group, record=record.id, length=record.length, cds_start=start + 1,
                             p_er=round(float(explanation.reference[er]), 4),
                             head_mean=float(score[head].mean()), rest_mean=float(score[~head].mean()),
                             head_share=float(score[head].sum() / score.sum()) if score.sum() else float("nan"),
                             head_mean_same_orf=float(np.nanmean(same_orf[head])),
                             rest_mean_same_orf=float(np.nanmean(same_orf[~head])),
                             seconds=round(time.perf_counter() - began, 1)))
            log.info("%s", rows[-1])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    for group in groups:
        picked = [r for r in rows if r["group"] == group]
        if not picked:
            continue
        diff = np.array([r["head_mean"] - r["rest_mean"] for r in picked])
        print(f"{group}: {len(picked)} records; first {HEAD_NT} nt of the CDS more ER-supporting (more negative) "
              f"than the rest in {int((diff < 0).sum())}/{len(picked)}; median per-nt difference {np.median(diff):+.2e}; "
              f"median head mean {np.median([r['head_mean'] for r in picked]):+.2e}, rest {np.median([r['rest_mean'] for r in picked]):+.2e}")
        same = np.array([r["head_mean_same_orf"] - r["rest_mean_same_orf"] for r in picked])
        print(f"  without ORF-moving variants (start/stop made or broken): head more negative in {int((same < 0).sum())}/"
              f"{len(picked)}; median difference {np.median(same):+.2e}; median head {np.median([r['head_mean_same_orf'] for r in picked]):+.2e}, "
              f"rest {np.median([r['rest_mean_same_orf'] for r in picked]):+.2e}")


if __name__ == "__main__":
    main()
