"""Would the forest gain from inputs it does not read yet? Exploratory, on fold 0 of the
cross-fitting (issue 33: "a gain toward the 0.785 goal would need information none of the
members reads").

Why: after the bag, column sampling and the UTR k-mers in the regression, the members agree
on what their inputs say (docs/RESULTS.md, "Two candidates on top of the bag"). Before a new
feature set is built into the runtime (its columns, each variant's row for explain, the
export), this measures whether one would move the blend. Each variant is the released forest
(one per class, :data:`rnaloc_infer.training.forest.SETTINGS`, on the forest's own inputs)
with one block of columns appended, fitted on fold 0's training part and scoring fold 0:

* ``base``: nothing appended (must reproduce ``artifacts/crossfit/forest/fold0``);
* ``utr3_k6``: the 3' UTR's 6-mer frequencies (4,096 columns);
* ``utr3_ends``: 1- to 4-mer frequencies of the first and of the last 300 nt of the 3' UTR
  (680 columns: near the stop codon, near the poly(A) signal);
* ``cds_k45``: 4- and 5-mer frequencies of the coding sequence (1,280 columns; the protein
  features hold its codon usage already);
* ``structure``: RNA structure, 15 columns of unpaired probabilities around the start codon and
  in the 3' UTR (``structure_columns.py``, given by ``--structure-columns``; too slow for the
  runtime, so only a look at whether structure is worth a slower tier).

Then (``compare``) each variant replaces the forest in the three-member blend with the class
mixing, fitted and scored nested within fold 0 (five sub-folds), paired over its 2,768 records
(as ``network_variants_fold0.py``). Exploratory: a variant that gains here is a candidate to
write down in ``PREREGISTERED.md`` and cross-fit on all five folds, not a result to ship.

    python experiments/forest_extra_features_fold0.py fit --variant base --variant utr3_k6 --out /work/extra
    python experiments/forest_extra_features_fold0.py compare --crossfit artifacts/crossfit --out /work/extra \\
        --results experiments/results/forest_extra_features_fold0.tsv

The candidate chosen on fold 0, fitted on the other four folds (``PREREGISTERED.md``):

    python experiments/forest_extra_features_fold0.py fit --variant utr3_k6 --fit-fold 1 --fit-fold 2 --out /work/extra
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

from class_mixing_gain import adopt_folds, aurocs, write_variant_gain
from rnaloc_infer.evaluation.bootstrap import RESAMPLES
from rnaloc_infer.features.coding import MIN_ORF_CODONS, length_groups, orfs_of_group
from rnaloc_infer.features.utr_kmers import frequencies, segment_kmer_counts, utr_bounds
from rnaloc_infer.training.crossfit import assign_folds, read_labelled, read_oof, write_oof
from rnaloc_infer.training.crossfit_blend import gather, nested
from rnaloc_infer.training.forest import SETTINGS, forest_inputs
from rnaloc_infer.training.models import CLASSES

ENDS_NT = 300


def record_regions(codes: List[np.ndarray]) -> Dict[str, np.ndarray]:
    """Records back to back (``flat``), their offsets, and the ORF/UTR bounds of the forest's inputs."""
    lengths = np.array([len(c) for c in codes], dtype=np.int64)
    starts, n_codons = np.zeros_like(lengths), np.zeros_like(lengths)
    for group in length_groups(codes):  # bounded memory, as the runtime searches
        _, _, starts[group], n_codons[group] = orfs_of_group(codes, group)
    utr5_end, utr3_start = utr_bounds(lengths, starts, n_codons, MIN_ORF_CODONS)
    return {"flat": np.concatenate(codes), "offsets": np.cumsum(lengths) - lengths, "lengths": lengths,
            "cds_end": np.minimum(utr3_start, lengths), "utr5_end": utr5_end, "utr3_start": utr3_start}


def _block(r: Dict[str, np.ndarray], starts: np.ndarray, ends: np.ndarray, ks) -> np.ndarray:
    return frequencies(segment_kmer_counts(r["flat"], r["offsets"] + starts, r["offsets"] + ends, ks))


VARIANTS: Dict[str, Callable[[Dict[str, np.ndarray]], np.ndarray]] = {
    "base": lambda r: np.zeros((len(r["lengths"]), 0), dtype=np.float32),
    "utr3_k6": lambda r: _block(r, r["utr3_start"], r["lengths"], (6,)),
    "utr3_ends": lambda r: np.hstack([
        _block(r, r["utr3_start"], np.minimum(r["utr3_start"] + ENDS_NT, r["lengths"]), (1, 2, 3, 4)),
        _block(r, np.maximum(r["lengths"] - ENDS_NT, r["utr3_start"]), r["lengths"], (1, 2, 3, 4))]),
    "cds_k45": lambda r: _block(r, r["utr5_end"], r["cds_end"], (4, 5)),
    "structure": lambda r: r["structure"],  # experiments/structure_columns.py, read by --structure-columns
}


def _structure_columns(path: Path, ids: List[str]) -> np.ndarray:
    """structure_columns.py's columns, checked to be of these records in this order."""
    if path is None:
        raise SystemExit("--variant structure needs --structure-columns (experiments/structure_columns.py)")
    stored = (path.parent / "ids.txt").read_text().split()
    if stored != list(ids):
        raise SystemExit(f"{path}: columns of other records, or in another order, than the labelled records")
    return np.load(path)


def fit(args: argparse.Namespace) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    data = read_labelled(args.data_dir, CLASSES)
    args.out.mkdir(parents=True, exist_ok=True)
    folds = adopt_folds(args.out, args.crossfit, data)
    base = forest_inputs(data.codes)
    regions = record_regions(list(data.codes))
    if "structure" in args.variant:
        regions["structure"] = _structure_columns(args.structure_columns, data.ids)
    for variant in args.variant:
        x = np.hstack([base, VARIANTS[variant](regions)]).astype(np.float32)
        logging.info("%s: %d columns", variant, x.shape[1])
        for fold in args.fit_folds or [args.fold]:
            path = args.out / variant / f"fold{fold}" / "oof.npz"
            if path.exists():
                continue
            rest, held = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
            scores = np.column_stack([HistGradientBoostingClassifier(**SETTINGS).fit(x[rest], data.labels[rest, c])
                                      .decision_function(x[held]) for c in range(len(CLASSES))])
            path.parent.mkdir(parents=True, exist_ok=True)
            write_oof(path, [data.ids[i] for i in held], scores, 0)
            logging.info("%s: fold %d done", variant, fold)


def compare(args: argparse.Namespace) -> None:
    variants = [v for v in VARIANTS if (args.out / v / f"fold{args.fold}" / "oof.npz").exists()]
    reference = read_oof(args.crossfit / "forest" / f"fold{args.fold}" / "oof.npz")
    base = read_oof(args.out / "base" / f"fold{args.fold}" / "oof.npz")
    assert list(base["ids"]) == list(reference["ids"]) and np.allclose(base["logits"], reference["logits"], atol=1e-4), \
        "the base variant does not reproduce the released forest's fold"
    for name in ("qrnn_motif_coding", "regression"):
        target = args.out / name
        if not target.exists():
            shutil.copytree(args.crossfit / name, target)
    odds, alone = {}, {}
    for variant in variants:
        (args.out / "forest").unlink(missing_ok=True)
        (args.out / "forest").symlink_to(variant)
        oof = gather(args.out, args.data_dir, members=["qrnn_motif_coding", "regression", "forest"], folds=[args.fold])
        oof = replace(oof, folds=assign_folds(oof.labels, 5, 0))  # sub-folds within the fold
        odds[variant], _, _ = nested(oof, class_mixing=True)
        alone[variant] = aurocs(oof.labels, oof.scores[2], oof.classes)
    assert variants[0] == "base"  # the reference of every gain
    write_variant_gain(args.results, ("variant", "forest_auroc"), variants, oof.labels, oof.classes, odds, alone,
                       args.resamples)
    print(args.results.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("fit", "compare"))
    parser.add_argument("--crossfit", type=Path, default=Path("artifacts/crossfit"), help="the released members' folds")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True, help="working folder: one folder per variant")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), default=[])
    parser.add_argument("--fold", type=int, default=0, help="the fold that fits and compares")
    parser.add_argument("--fit-fold", dest="fit_folds", type=int, action="append", default=[],
                        help="fit: these folds instead (repeatable; a candidate chosen on --fold, cross-fitted on the others)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--structure-columns", type=Path, help="the structure variant's columns (structure_columns.py)")
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    if args.out.resolve() == args.crossfit.resolve():
        parser.error("--out must be a working folder of its own, not the --crossfit folder it reads")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    fit(args) if args.mode == "fit" else compare(args)


if __name__ == "__main__":
    main()
