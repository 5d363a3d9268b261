"""Where short records spend their time, and the issue-31 changes before/after, in one process.

    python benchmarks/short_records.py --records 20000 --window-records 5000 --rounds 3

Three measurements on N x 300-nt pieces of the real mRNAs (benchmarks/end_to_end.py's
``pieces`` case, generated into --workdir once):

1. CPU seconds per phase of the runtime, one thread, the runtime's own batches
   (``time.process_time``, so other jobs on the machine inflate them little): FASTA read,
   per-record features + applicability flags as before (``record_feature_matrix``, then a
   second ORF search and one ``check`` per record) and as now (``record_features_and_orfs``:
   one ORF search for both; ``check_many`` vectorised), and the ONNX Runtime calls.
2. The window pipeline with --workers threads (default 2), before (each window read, then
   run, then handed out: ``run_jobs`` per window) vs now (``run_windows``: the next window
   read while this one runs): wall time of ``predict_stream`` over the FASTA file with each
   row formatted as the TSV writer does, and how long no model call was running at all
   (the threads idle while the caller reads or writes). Interleaved rounds, medians.
   --window-records 5000 on 20,000 records gives the 4 windows that 100,000 records make
   with the default window (20,000), at a fifth of the time.
3. Both outputs compared: the probabilities must be identical.

On a machine shared with other jobs the wall-clock figures of 2. are only comparable inside
one run (same rounds, interleaved); the idle seconds say what the pipeline removes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import write_pieces  # noqa: E402

from rnaloc_infer import parallel  # noqa: E402
from rnaloc_infer.batching import BatchConfig, plan_batches, predict_stream  # noqa: E402
from rnaloc_infer.features.coding import longest_orf_codons  # noqa: E402
from rnaloc_infer.fasta import Record, read_fasta  # noqa: E402
from rnaloc_infer.features.registry import record_feature_matrix, record_features_and_orfs  # noqa: E402
from rnaloc_infer.alphabet import pad_batch  # noqa: E402
from rnaloc_infer.session import ModelSession  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "rnaloc_infer" / "models" / "default.onnx"


def cpu(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def phases(path: Path, session: ModelSession) -> Dict[str, float]:
    """CPU seconds of each phase on one thread (see the module doc, 1.)."""
    out: Dict[str, float] = {}
    records: List[Record] = []
    out["read FASTA"] = cpu(lambda: records.extend(r for r in read_fasta([path]) if isinstance(r, Record)))
    batches = [[records[i] for i in b] for b in plan_batches([r.length for r in records], BatchConfig().batch_nt)]
    codes = [[r.codes for r in b] for b in batches]
    ambiguous = [[r.ambiguous for r in b] for b in batches]
    rules, name = session.info.applicability, session.info.features

    def before() -> None:
        for c, a in zip(codes, ambiguous):
            record_feature_matrix(c, name)
            orfs = longest_orf_codons(c).tolist()
            [rules.check(x, y, z) for x, y, z in zip(c, a, orfs)]

    def now() -> None:
        for c, a in zip(codes, ambiguous):
            _, orfs = record_features_and_orfs(c, name)
            rules.check_many(c, a, orfs)

    out["features + flags, before"] = cpu(before)
    out["features + flags, now"] = cpu(now)
    features = [record_feature_matrix(c, name) for c in codes]
    out["ONNX Runtime calls"] = cpu(lambda: [session.run(*pad_batch(c), features=f) for c, f in zip(codes, features)])
    return out


def serial_windows(windows, workers):  # the runtime before: each window read, run, handed out
    for key, jobs in windows:
        yield key, parallel.run_jobs(jobs, workers)


def pipeline(path: Path, session: ModelSession, workers: int, windowing, config: BatchConfig) -> Tuple[float, float, np.ndarray]:
    """(wall s, s with no model call running, probabilities) of predict_stream + TSV formatting."""
    lock = threading.Lock()
    running = [0]
    idle = [0.0]
    idle_since = [time.perf_counter()]
    original = session.run

    def timed_run(*args, **kwargs):
        with lock:
            if running[0] == 0:
                idle[0] += time.perf_counter() - idle_since[0]
            running[0] += 1
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1
                if running[0] == 0:
                    idle_since[0] = time.perf_counter()

    session.run = timed_run  # type: ignore[method-assign]
    saved = parallel.run_windows
    parallel.run_windows = windowing
    rows: List[np.ndarray] = []
    try:
        start = idle_since[0] = time.perf_counter()
        for item in predict_stream(read_fasta([path]), session, config, workers=workers):
            "\t".join([item.id, str(item.length), *(f"{p:.4f}" for p in item.probs.tolist())])
            rows.append(item.probs)
        wall = time.perf_counter() - start
        idle[0] += time.perf_counter() - idle_since[0]
    finally:
        parallel.run_windows = saved
        del session.run
    return wall, idle[0], np.stack(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--window-records", type=int, default=5_000, help="the runtime's look-ahead window (default there 20,000)")
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/rnaloc_end_to_end"))
    args = ap.parse_args()
    import os

    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"pieces_{args.records}x300.fa.gz"
    if not path.exists():
        write_pieces(path, args.records)
    print(f"load average at start {os.getloadavg()[0]:.1f}; {args.records:,} x 300-nt mRNA pieces; model {args.model.name}")
    session = ModelSession(args.model, device="cpu", threads=1)
    print("\n| phase (1 thread) | CPU s per round |\n|---|---|")
    rounds = [phases(path, session) for _ in range(args.rounds)]
    for key in rounds[0]:
        print(f"| {key} | {' / '.join(f'{r[key]:.2f}' for r in rounds)} |")
    gain = [r["features + flags, before"] / r["features + flags, now"] for r in rounds]
    print(f"features + flags, before / now: median {statistics.median(gain):.2f}x")

    session = ModelSession(args.model, device="cpu")
    print(f"\n| window pipeline ({args.workers} workers, windows of {args.window_records:,} records) | wall s | s with no model call running |\n|---|---:|---:|")
    results: Dict[str, List[Tuple[float, float]]] = {"before": [], "now": []}
    probs: Dict[str, np.ndarray] = {}
    for number in range(args.rounds):
        order = [("before", serial_windows), ("now", parallel.run_windows)]
        for label, windowing in order if number % 2 == 0 else order[::-1]:
            wall, idle, probs[label] = pipeline(path, session, args.workers, windowing, BatchConfig(window_records=args.window_records))
            results[label].append((wall, idle))
            print(f"| {label}, round {number + 1} | {wall:.1f} | {idle:.2f} |", flush=True)
    walls = [b[0] / n[0] for b, n in zip(results["before"], results["now"])]
    print(f"wall before / now: {' '.join(f'{w:.2f}' for w in walls)} (median {statistics.median(walls):.2f}x); "
          f"idle s median {statistics.median(i for _, i in results['before']):.2f} -> "
          f"{statistics.median(i for _, i in results['now']):.2f}")
    print("probabilities identical" if np.array_equal(probs["before"], probs["now"]) else "PROBABILITIES DIFFER")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
