"""What the per-record features cost: ``coding-v1`` vs ``coding-utr-v1``, side by side (docs/PERFORMANCE.md).

Why: the default's forest reads the UTRs' k-mer frequencies (``coding-utr-v1``), which the
runtime computes with numpy for every record before streaming it; this times both sets on
the same records, alternating, in one process, and prints the median seconds and the ratio.

    python benchmarks/feature_sets_speed.py --fasta ../shared/data/dm3loc_valid.fa.gz --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from rnaloc_infer.fasta import Record, read_fasta
from rnaloc_infer.features.registry import CODING, CODING_UTR, record_feature_matrix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fasta", type=Path, default=Path("../shared/data/dm3loc_valid.fa.gz"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--short", type=int, default=20_000, help="also this many random 300-nt records")
    args = ap.parse_args()
    valid = [r.codes for r in read_fasta(args.fasta, warn_duplicates=False) if isinstance(r, Record)]
    rng = np.random.default_rng(0)
    short = [rng.integers(0, 4, 300).astype(np.uint8) for _ in range(args.short)]
    for label, records in ((f"{args.fasta.name} ({len(valid)} records)", valid), (f"{args.short} x 300 nt", short)):
        nt = sum(len(r) for r in records)
        seconds = {CODING: [], CODING_UTR: []}
        for repeat in range(args.repeats):
            for name in ((CODING, CODING_UTR) if repeat % 2 == 0 else (CODING_UTR, CODING)):
                start = time.perf_counter()
                record_feature_matrix(records, name)
                seconds[name].append(time.perf_counter() - start)
        a, b = statistics.median(seconds[CODING]), statistics.median(seconds[CODING_UTR])
        print(f"{label}: coding-v1 {a:.2f} s ({nt / a / 1e6:.1f} Mnt/s), coding-utr-v1 {b:.2f} s "
              f"({nt / b / 1e6:.1f} Mnt/s), ratio {b / a:.2f}", flush=True)


if __name__ == "__main__":
    main()
