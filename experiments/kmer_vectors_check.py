"""Does a word2vec k-mer table carry sequence similarity? (issue 12 sanity check)

    python experiments/kmer_vectors_check.py artifacts/kmer6_d32.npz

Mean cosine similarity of each k-mer's vector to: a k-mer one substitution away, the next
overlapping k-mer (shift by one), its reverse complement, and a random k-mer. Skip-gram
vectors learned from context should put overlapping and near-identical k-mers closer
than random pairs; reverse complements share no context on single-stranded mRNA, so they
need not be close.
"""

from __future__ import annotations

import argparse

import numpy as np

from rnaloc_infer.training.kmer_vectors import KmerVectors, kmer_words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("vectors")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = KmerVectors.load(args.vectors)
    words = kmer_words(table.k)
    rows = np.flatnonzero(table.present)
    unit = table.vectors[rows] / np.linalg.norm(table.vectors[rows], axis=1, keepdims=True)
    where = {words[i]: j for j, i in enumerate(rows)}
    rng = np.random.default_rng(args.seed)
    complement = str.maketrans("ACGT", "TGCA")
    pairs = {"1-substitution": [], "shift-by-one": [], "reverse complement": [], "random": []}
    for word, j in where.items():
        p = int(rng.integers(table.k))
        other = rng.choice([c for c in "ACGT" if c != word[p]])
        partners = {
            "1-substitution": word[:p] + other + word[p + 1 :],
            "shift-by-one": word[1:] + rng.choice(list("ACGT")),
            "reverse complement": word.translate(complement)[::-1],
        }
        for name, partner in partners.items():
            if partner in where:
                pairs[name].append(unit[j] @ unit[where[partner]])
        pairs["random"].append(unit[j] @ unit[rng.integers(len(rows))])
    print(f"{args.vectors}: k = {table.k}, dim = {table.dim}, {len(rows)} k-mers present")
    for name, values in pairs.items():
        print(f"  mean cosine, {name:18s} {np.mean(values):.3f}  (n = {len(values)})")


if __name__ == "__main__":
    main()
