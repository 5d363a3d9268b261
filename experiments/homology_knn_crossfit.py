"""Cross-fit a member that reads which training records share long k-mers with a record
(experiments/PREREGISTERED.md, candidate F).

Why: every member reads k-mers of length 6 or less. Two mRNAs sharing a stretch of sequence
(paralogs below the data set's redundancy cut-off, or a repeat element such as an Alu in both
3' UTRs) look alike to no member unless their short-k-mer profiles do. Here each record is the
set of its forward-strand 16-mers kept by a fixed hash at 1 in 8 (FracMinHash); two records'
similarity is the cosine of those sets; per fold, each record of the held fold takes the
labels of its 20 most similar records of the fitting part, weighted by similarity and shrunk
to the fitting part's prevalence (λ = 0.02), as log-odds per class.

    python experiments/homology_knn_crossfit.py --crossfit artifacts/crossfit_bag3 --out DIR --data-dir ../shared/data
    cp -r artifacts/crossfit_bag3/. DIR/
    python experiments/forest_bag_gain.py --crossfit artifacts/crossfit_bag3 --candidate DIR \\
        --data-dir ../shared/data --members qrnn_motif_coding regression forest \\
        --candidate-members qrnn_motif_coding regression forest homology_knn \\
        --names bag_of_forests homology_knn --out experiments/results/homology_knn_gain.tsv
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import List, Sequence

import numpy as np

from class_mixing_gain import adopt_folds
from rnaloc_infer.output.files import atomic_write_text
from rnaloc_infer.training.crossfit import OOF_FILE, read_labelled, write_oof
from rnaloc_infer.training.models import CLASSES

MEMBER = "homology_knn"
K = 16  # 16 nt in 2 bits each: one uint32
HASH = np.uint32(2654435761)  # Knuth's multiplicative hash
KEEP_BITS = 3  # kept when the hash's top 3 bits are 0: 1 in 8
NEIGHBOURS = 20
SHRINK = 0.02  # prior weight, in units of cosine similarity
CLIP = 1e-4


def sampled_kmers(codes: np.ndarray) -> np.ndarray:
    """Sorted distinct 2-bit-packed 16-mers of ``codes`` (0-3 ACGT, 4 N) without N, kept by the hash."""
    n = len(codes) - K + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint32)
    has_n = np.convolve((codes > 3).astype(np.int32), np.ones(K, dtype=np.int32), "valid") > 0
    clipped = np.minimum(codes, 3).astype(np.uint32)
    packed = np.zeros(n, dtype=np.uint32)
    for i in range(K):
        packed = (packed << np.uint32(2)) | clipped[i:i + n]
    keep = ((packed * HASH) >> np.uint32(32 - KEEP_BITS)) == 0
    return np.unique(packed[keep & ~has_n])


def similarity(sets: Sequence[np.ndarray]):
    """(records, records) sparse cosine similarity of the sampled sets (diagonal zero)."""
    import scipy.sparse as sp

    values, counts = np.unique(np.concatenate(sets), return_counts=True)
    shared = values[counts >= 2]  # a 16-mer of one record links no pair
    rows, cols = [], []
    for r, s in enumerate(sets):
        hit = np.searchsorted(shared, s)
        found = (hit < len(shared)) & (shared[np.minimum(hit, len(shared) - 1)] == s)
        rows.append(np.full(found.sum(), r))
        cols.append(hit[found])
    x = sp.csr_matrix((np.ones(sum(len(r) for r in rows), dtype=np.float32), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(len(sets), len(shared)))
    norm = np.sqrt(np.maximum(np.array([len(s) for s in sets], dtype=np.float64), 1.0))
    gram = (x @ x.T).tocsr().astype(np.float64)
    gram.setdiag(0)
    gram.eliminate_zeros()
    scale = sp.diags(1.0 / norm)
    return (scale @ gram @ scale).tocsr()


def neighbour_scores(sim, held: np.ndarray, fit: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(held, classes) log-odds: similarity-weighted labels of each held record's nearest fitting records."""
    prior = labels[fit].mean(axis=0)
    block = sim[held][:, fit].tocsr()
    out = np.empty((len(held), labels.shape[1]))
    for i in range(len(held)):
        start, end = block.indptr[i], block.indptr[i + 1]
        s, j = block.data[start:end], block.indices[start:end]
        if len(s) > NEIGHBOURS:
            top = np.argpartition(-s, NEIGHBOURS)[:NEIGHBOURS]
            s, j = s[top], j[top]
        out[i] = (s @ labels[fit[j]] + SHRINK * prior) / (s.sum() + SHRINK)
    out = np.clip(out, CLIP, 1 - CLIP)
    return np.log(out / (1 - out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossfit", type=Path, required=True, help="the baseline's folder: its folds.tsv is used")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.out.resolve() == args.crossfit.resolve():
        parser.error("--out must be a working folder of its own, not the --crossfit folder it reads")
    data = read_labelled(args.data_dir, CLASSES)
    args.out.mkdir(parents=True, exist_ok=True)
    folds = adopt_folds(args.out, args.crossfit, data)
    sets: List[np.ndarray] = [sampled_kmers(c) for c in data.codes]
    sim = similarity(sets)
    logging.info("sampled 16-mers: %d in all; %d record pairs share at least one", sum(len(s) for s in sets), sim.nnz // 2)
    member_dir = args.out / MEMBER
    member_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(member_dir / "source.json", json.dumps(
        {"member": MEMBER, "k": K, "keep": f"1 in {2 ** KEEP_BITS}", "neighbours": NEIGHBOURS, "shrink": SHRINK},
        indent=2))
    for fold in range(int(folds.max()) + 1):
        path = member_dir / f"fold{fold}" / OOF_FILE
        if path.exists():
            continue
        held, fit = np.flatnonzero(folds == fold), np.flatnonzero(folds != fold)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_oof(path, [data.ids[i] for i in held], neighbour_scores(sim, held, fit, data.labels), 0)
        logging.info("fold %d: %d records scored", fold, len(held))


if __name__ == "__main__":
    main()
