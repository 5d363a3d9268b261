"""Reading a D of `rnaloc-variants`: how large |D| is over every possible SNV of real mRNAs.

D = p(alt transcript) - p(reference transcript) per class (docs/VARIANTS.md). To tell a
large effect from a small one, this scores ALL single-nucleotide substitutions (3 per
position; 4 at an N) of --records validation mRNAs of DM3Loc with the bundled default
model (fp32), exactly: explain's all-substitution ISM (``rnaloc_infer.explain.explain_codes``,
the numpy engine), whose entries are the D that ``rnaloc-variants`` reports for an SNV of a
transcript with that sequence. It writes, per class and for the largest |D| over the classes
of each SNV ("any class"), the percentiles 50, 90, 99, 99.9 and the maximum of |D|.

Which mRNAs: the validation FASTA's records in the order of a seeded permutation
(``numpy.random.default_rng(--seed).permutation``, seed 34), the first --records of them;
a run stopped early (--records smaller) keeps the same list's head, so a later run extends it.

    python benchmarks/variant_delta_percentiles.py --records 100 --workers 2 \\
        --out benchmarks/results/variant_delta_percentiles.tsv
    python benchmarks/variant_delta_percentiles.py --records 2     # the cost estimate (seconds per record)

The table in docs/VARIANTS.md ("Reading a D") is printed by --markdown from the TSV.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PERCENTILES = (50, 90, 99, 99.9)
ANY = "any class"
COLUMNS = ["class", "records", "nt", "snvs", "p50", "p90", "p99", "p99.9", "max", "seed", "model"]


def chosen_records(path: Path, n: int, seed: int) -> list:
    from rnaloc_infer.fasta import Record, read_fasta

    records = [r for r in read_fasta(path, warn_duplicates=False) if isinstance(r, Record)]
    order = np.random.default_rng(seed).permutation(len(records))
    return [records[i] for i in order[:n]]


def significant(x: float, digits: int = 2) -> str:
    """``x`` with ``digits`` significant digits in plain decimals (0.000012, 0.0031, 0.10)."""
    if x == 0:
        return "0"
    rounded = float(f"{x:.{digits - 1}e}")
    return f"{rounded:.{max(0, digits - 1 - int(np.floor(np.log10(rounded))))}f}"


def markdown(path: Path) -> str:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    lines = ["| \\|D\\| of every SNV | median | 90th pct | 99th pct | 99.9th pct | max |", "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [significant(float(r[c])) for c in ("p50", "p90", "p99", "p99.9", "max")]
        lines.append(f"| {r['class']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dm3loc_valid.fa.gz")
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--seed", type=int, default=34)
    parser.add_argument("--model", default="default")
    parser.add_argument("--workers", type=int, default=2, help="threads of the ISM engine")
    parser.add_argument("--out", type=Path, default=None, help="TSV of the percentiles (replaced atomically)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder for each record's |D| (.npy): a rerun, longer or shorter, reuses them")
    parser.add_argument("--markdown", type=Path, default=None, help="print the docs table of this TSV and stop")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    from rnaloc_infer import Predictor
    from rnaloc_infer.explain import explain_codes
    from rnaloc_infer.features.variants import substitutions

    predictor = Predictor(args.model, device="cpu", threads=1, precision="fp32")
    session = predictor.exact_session()
    classes = list(session.info.classes)
    deltas: List[np.ndarray] = []
    nt = 0
    started = time.perf_counter()
    cpu = time.process_time()
    for k, rec in enumerate(chosen_records(args.data, args.records, args.seed), 1):
        cached = None if args.cache is None else args.cache / f"{k:03d}_{rec.id}.npy"
        if cached is not None and cached.is_file():
            deltas.append(np.load(cached))
        else:
            ism = explain_codes(session, rec.codes, workers=args.workers, engine="numpy")
            positions, bases = substitutions(rec.codes)  # the reference base's own entry (0) left out
            deltas.append(np.abs(ism.delta[positions, bases]))
            if cached is not None:
                from rnaloc_infer.output.files import atomic_path

                cached.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(cached) as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, deltas[-1])
        nt += rec.length
        print(f"{k}/{args.records} {rec.id} {rec.length:,} nt: {time.perf_counter() - started:.0f} s wall, "
              f"{time.process_time() - cpu:.0f} s CPU so far", file=sys.stderr)
    d = np.concatenate(deltas).astype(np.float64)
    table = {c: d[:, i] for i, c in enumerate(classes)}
    table[ANY] = d.max(axis=1)
    per_record = (time.perf_counter() - started) / len(deltas)
    print(f"{len(deltas)} records, {nt:,} nt, {len(d):,} SNVs; {per_record:.1f} s wall per record "
          f"({time.process_time() - cpu:.0f} s CPU in all)", file=sys.stderr)
    rows = []
    for name, values in table.items():
        p = np.percentile(values, PERCENTILES)
        rows.append(dict(zip(COLUMNS, [name, len(deltas), nt, len(d), *[f"{x:.6g}" for x in p], f"{values.max():.6g}",
                                       args.seed, args.model])))
    for r in rows:
        print("\t".join(str(r[c]) for c in COLUMNS), file=sys.stderr)
    if args.out:
        from rnaloc_infer.output.files import atomic_output

        with atomic_output(args.out) as fh:
            writer = csv.DictWriter(fh, COLUMNS, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        print(markdown(args.out))


if __name__ == "__main__":
    main()
