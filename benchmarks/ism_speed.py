"""Exact ISM: both fast paths (rnaloc_infer.explain) against brute force, side by side.

Brute force is the definition: every variant record scored by ``Predictor.predict`` from
scratch (3 x length records of full length), on ``--brute-threads`` workers. For long
records it is timed on a random subset of positions (``--brute-positions``) and scaled to
all of them (every variant costs the same), and each fast path's error is measured on that
subset: max |fast - brute| over every entry. CPU seconds (all threads of the process) are recorded beside wall
seconds: on a busy machine they are the steadier measure of work. The fast paths, timed in the same run: the
ONNX Runtime path (``engine="onnx"``: prefix reuse, batching, exact early stop; any model)
and the numpy engine (``engine="numpy"``: the QRNN structure, numpy_ism.py), each at the
``--workers`` counts. The work columns count nucleotides run for variants (for the numpy
engine: pooled steps x stride).
A tolerance sweep (``--sweep-nt``) shows what early stopping on an inexact tolerance would
buy on a shorter record, and what it costs in accuracy (against tolerance 0).

    python benchmarks/ism_speed.py --data ../shared/data/dm3loc_valid.fa.gz \
        --out benchmarks/results/ism_speed.tsv
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import time
from pathlib import Path

import numpy as np

from rnaloc_infer import Predictor
from rnaloc_infer.explain import brute_force, explain_codes
from rnaloc_infer.fasta import read_fasta

log = logging.getLogger("ism_speed")


def pick(path: str, lengths: list) -> list:
    """The validation record closest to each wanted length."""
    records = list(read_fasta(path))
    return [min(records, key=lambda r: abs(r.length - n)) for n in lengths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/dm3loc_valid.fa.gz")
    parser.add_argument("--model", default="default")
    parser.add_argument("--lengths", default="3000,10000", help="comma list: nt of the records to pick")
    parser.add_argument("--brute-positions", default="all,300", help="per length: 'all' or how many positions brute force scores")
    parser.add_argument("--workers", default="1,2", help="worker counts to time the numpy engine at")
    parser.add_argument("--onnx-workers", default="2", help="worker counts to time the ONNX Runtime path at ('': skip it)")
    parser.add_argument("--brute-threads", type=int, default=2, help="brute force's workers (Predictor threads)")
    parser.add_argument("--sweep-nt", type=int, default=1000, help="record length for the tolerance sweep (0: none)")
    parser.add_argument("--tolerances", default="1e-5,1e-4,1e-3,1e-2")
    parser.add_argument("--out", default="benchmarks/results/ism_speed.tsv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    predictor = Predictor(args.model, device="cpu", threads=args.brute_threads, precision="fp32")  # explain runs the fp32 file
    lengths = [int(x) for x in args.lengths.split(",")]
    budgets = args.brute_positions.split(",")
    rows = []
    for record, budget in zip(pick(args.data, lengths), budgets):
        sequence = "".join("ACGTN"[c] for c in record.codes)
        n = record.length
        rng = np.random.default_rng(0)
        positions = np.arange(n) if budget == "all" else np.sort(rng.choice(n, min(n, int(budget)), replace=False))
        brute_load = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        expected = brute_force(predictor.predict, sequence, positions)
        brute_s = (time.perf_counter() - start) * n / len(positions)
        brute_cpu_s = (time.process_time() - cpu) * n / len(positions)
        variants = 3 * n + int((record.codes >= 4).sum())
        runs = [("onnx", int(w)) for w in args.onnx_workers.split(",") if w] + [("numpy", int(w)) for w in args.workers.split(",")]
        for engine, workers in runs:
            load = os.getloadavg()[0]
            start, cpu = time.perf_counter(), time.process_time()
            explanation = explain_codes(predictor.session, record.codes, workers=workers, engine=engine)
            fast_s = time.perf_counter() - start
            fast_cpu_s = time.process_time() - cpu
            error = float(np.abs(explanation.delta[positions] - expected[positions]).max())
            row = dict(model=args.model, record=record.id, length=n, variants=variants, engine=engine, workers=workers,
                       brute_threads=args.brute_threads, tolerance=0.0,
                       brute_positions=len(positions), brute_s=round(brute_s, 1), fast_s=round(fast_s, 1),
                       speedup=round(brute_s / fast_s, 2), brute_cpu_s=round(brute_cpu_s, 1), fast_cpu_s=round(fast_cpu_s, 1),
                       cpu_ratio=round(brute_cpu_s / fast_cpu_s, 2), brute_variant_nt=variants * n,
                       fast_variant_nt=explanation.variant_nt, work_ratio=round(variants * n / explanation.variant_nt, 2),
                       max_abs_error=f"{error:.2e}", max_abs_effect=f"{np.abs(expected).max():.3f}", load_1min=round(load, 1),
                       brute_load_1min=round(brute_load, 1))
            log.info("%s", row)
            rows.append(row)
    if args.sweep_nt:
        record = pick(args.data, [args.sweep_nt])[0]
        exact = explain_codes(predictor.session, record.codes, engine="onnx")
        for tolerance in [float(t) for t in args.tolerances.split(",")]:
            start = time.perf_counter()
            explanation = explain_codes(predictor.session, record.codes, tolerance=tolerance, engine="onnx")
            fast_s = time.perf_counter() - start
            variants = 3 * record.length + int((record.codes >= 4).sum())
            error = float(np.abs(explanation.delta - exact.delta).max())
            row = dict(model=args.model, record=record.id, length=record.length, variants=variants, engine="onnx", workers=1,
                       brute_threads="", tolerance=tolerance, brute_positions=0, brute_s="", fast_s=round(fast_s, 1), speedup="",
                       brute_variant_nt=variants * record.length, fast_variant_nt=explanation.variant_nt,
                       work_ratio=round(variants * record.length / explanation.variant_nt, 2),
                       max_abs_error=f"{error:.2e}", max_abs_effect=f"{np.abs(exact.delta).max():.3f}",
                       load_1min=round(os.getloadavg()[0], 1), brute_load_1min="")
            log.info("%s", row)
            rows.append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
