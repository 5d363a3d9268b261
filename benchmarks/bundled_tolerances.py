"""How far the shipped half-precision files and the chunked path drift from the reference.

For each bundled model (``default``, ``fast``) scores real sequences three ways on the CPU:
the fp32 file in one shot (the reference), the ``.fp16.onnx`` twin in one shot, and the fp32
file through the chunked path (records longer than ``--chunk-nt`` scored chunk by chunk,
state carried). Prints the largest absolute probability difference of each against the
reference; tests/test_bundled_model.py takes its tolerances from these figures (with headroom).

    python benchmarks/bundled_tolerances.py examples/example.fa
    python benchmarks/bundled_tolerances.py ../shared/data/dm3loc_valid.fa.gz --limit 500 --chunk-nt 1000
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from rnaloc_infer.api import Predictor
from rnaloc_infer.bundled import resolve_model


def _scores(model, fasta: str, limit, **options):
    """(lengths, probabilities) of the first ``limit`` records, in input order."""
    predictor = Predictor(model, device="cpu", threads=1, **options)
    predictions = list(itertools.islice(predictor.predict_fasta(fasta), limit))
    return np.array([p.length for p in predictions]), np.array([list(p.probabilities.values()) for p in predictions])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fasta")
    parser.add_argument("--limit", type=int, default=None, help="first N records only")
    parser.add_argument("--chunk-nt", type=int, default=1000, help="chunk size for the chunked path (default 1000)")
    args = parser.parse_args()
    lengths, _ = _scores("fast", args.fasta, args.limit)
    print(f"{lengths.size} records, {lengths.min()}-{lengths.max()} nt, {(lengths > args.chunk_nt).sum()} longer than {args.chunk_nt}")
    one_shot = {"chunk_nt": int(lengths.max()) + 1, "batch_nt": 1 << 20}
    for name in ("default", "fast"):
        fp32 = resolve_model(name)
        _, reference = _scores(fp32, args.fasta, args.limit, **one_shot)
        _, half = _scores(fp32.with_name(f"{name}.fp16.onnx"), args.fasta, args.limit, **one_shot)
        _, chunked = _scores(fp32, args.fasta, args.limit, chunk_nt=args.chunk_nt)
        print(f"{name}: fp16 vs fp32 max |dp| = {np.abs(half - reference).max():.2e}; "
              f"chunked ({args.chunk_nt} nt) vs one-shot max |dp| = {np.abs(chunked - reference).max():.2e}")


if __name__ == "__main__":
    main()
