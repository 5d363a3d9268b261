"""RNA structure columns per labelled record, for an exploratory look at whether structure adds
to the forest (docs/RESULTS.md, "What limits these numbers": structure was the input no member
had read).

Why exploratory and not a member: local folding (ViennaRNA's RNAplfold, window 100, span 50)
costs about 60 times the CPU of the whole runtime on the same records
(``benchmarks/structure_speed.py``), so structure cannot be a feature of every record under
the speed rule. This measures whether it would be worth a slower tier at all.

Per record, two stretches are folded: around the start codon (up to 850 nt of the 5' UTR and
the first 150 nt of the coding sequence) and the 3' UTR (its last 3,000 nt at most), with the
ORF and UTR bounds the runtime's own features use. Of the probability that each base is
unpaired, five segments (the 5' UTR part, the CDS start, the whole 3' UTR part, the 3' UTR's
first 200 nt, its last 300 nt) give three columns each: the mean, the fraction above 0.9
(open) and the fraction below 0.1 (paired); an empty segment gives NaN, which the trees read
as missing. Records are done in chunks of 250 (``OUT/chunk<i>.npy``, resumable; two processes
share the chunks by lock), then joined in the order of ``read_labelled`` (``structure_columns.npy``,
with ``ids.txt`` and the columns' names in ``columns.txt``):

    pip install ViennaRNA   # not a dependency of the project
    python experiments/structure_columns.py --data-dir ../shared/data --out /work/structure
    python experiments/forest_extra_features_fold0.py fit --variant structure \\
        --structure-columns /work/structure/structure_columns.npy --out /work/extra
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from forest_extra_features_fold0 import record_regions
from rnaloc_infer.training.crossfit import fold_lock, read_labelled
from rnaloc_infer.training.models import CLASSES

WINDOW, SPAN = 100, 50  # RNAplfold -W -L
UTR5_NT, CDS_NT, UTR3_NT = 850, 150, 3000
UTR3_HEAD, UTR3_TAIL = 200, 300
OPEN, PAIRED = 0.9, 0.1
MIN_PAIRABLE = 5  # a base pair encloses a hairpin loop of at least 3 nt
CHUNK = 250
COLUMNS = [f"{segment}_{stat}" for segment in ("utr5", "cds_start", "utr3", "utr3_head", "utr3_tail")
           for stat in ("unpaired_mean", "open_fraction", "paired_fraction")]
BASES = np.array(list("ACGUN"))


def unpaired(codes: np.ndarray) -> np.ndarray:
    """Probability that each base is unpaired (RNAplfold, :data:`WINDOW`, :data:`SPAN`)."""
    import RNA

    if len(codes) < MIN_PAIRABLE:  # exact: no pair fits; and ViennaRNA 2.8's pfl_fold_up corrupts its heap on 3 nt
        return np.ones(len(codes))
    sequence = "".join(BASES[np.minimum(codes, 4)])
    up = RNA.pfl_fold_up(sequence, 1, min(WINDOW, len(sequence)), min(SPAN, len(sequence)))
    return np.array([up[i][1] for i in range(1, len(sequence) + 1)], dtype=np.float64)


def stats(p: np.ndarray) -> list:
    if len(p) == 0:
        return [np.nan] * 3
    return [float(p.mean()), float((p > OPEN).mean()), float((p < PAIRED).mean())]


def record_columns(codes: np.ndarray, utr5_end: int, utr3_start: int) -> np.ndarray:
    length = len(codes)
    a0, a1 = max(0, utr5_end - UTR5_NT), min(length, utr5_end + CDS_NT)
    start = unpaired(codes[a0:a1])
    b0 = max(utr3_start, length - UTR3_NT)
    utr3 = unpaired(codes[b0:length])
    head = utr3[:UTR3_HEAD] if b0 == utr3_start else np.zeros(0)  # the 3' UTR's own first bases only
    return np.array(stats(start[:utr5_end - a0]) + stats(start[utr5_end - a0:]) + stats(utr3) + stats(head)
                    + stats(utr3[-UTR3_TAIL:]), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = read_labelled(args.data_dir, CLASSES)
    regions = record_regions(list(data.codes))
    args.out.mkdir(parents=True, exist_ok=True)
    chunks = range(0, len(data.ids), CHUNK)
    for first in chunks:
        path = args.out / f"chunk{first // CHUNK:03d}.npy"
        if path.exists():
            continue
        with fold_lock(args.out / f"lock{first // CHUNK:03d}") as mine:
            if not mine or path.exists():
                continue
            rows = range(first, min(first + CHUNK, len(data.ids)))
            block = np.stack([record_columns(data.codes[i], int(regions["utr5_end"][i]), int(regions["utr3_start"][i]))
                              for i in rows])
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, block)
            tmp.replace(path)
            logging.info("chunk %d of %d done", first // CHUNK + 1, len(chunks))
    parts = [args.out / f"chunk{first // CHUNK:03d}.npy" for first in chunks]
    if all(p.exists() for p in parts):
        joined = np.concatenate([np.load(p) for p in parts])
        np.save(args.out / "structure_columns.npy", joined)
        (args.out / "ids.txt").write_text("\n".join(data.ids) + "\n")
        (args.out / "columns.txt").write_text("\n".join(COLUMNS) + "\n")
        logging.info("%d records x %d columns -> %s", *joined.shape, args.out / "structure_columns.npy")


if __name__ == "__main__":
    main()
