"""Which way to use several cores: side by side in one run (issue 21, docs/PERFORMANCE.md "All cores").

    python benchmarks/parallelism.py [--model default] [--workers N] [--rounds 2]

Strategies, all over the runtime's own batches (``predict_stream``: look-ahead windows,
length-sorted batches, chunked long records) and with N = the cores this process may use:

* ``serial``: one thread, one one-thread session (the runtime before issue 21);
* ``intra_op``: one thread, ONNX Runtime's intra-op pool of N threads (``--threads N`` before);
* ``threads_shared``: N threads calling one one-thread session (the runtime's choice);
* ``threads_own``: N threads, each with its own one-thread session;
* ``processes``: N worker processes (fork), each with its own session; the parent sends
  each batch's codes and gets the probabilities back;
* optionally ``serial`` and ``threads_shared`` at other ``--batch-nt`` budgets (N batches in
  flight share the caches, so a smaller budget might pay).

Every strategy runs every input once per round, in rotating order, so a busy machine's
drift falls on all of them alike; nt/s is total nt over total wall time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from typing import Callable, Dict, List

import numpy as np

from rnaloc_infer.alphabet import pad_batch
from rnaloc_infer.batching import BatchConfig, plan_batches, predict_stream
from rnaloc_infer.bundled import resolve_model
from rnaloc_infer.fasta import Record, read_fasta
from rnaloc_infer.parallel import available_cpus
from rnaloc_infer.session import ModelSession

VALID = "/work/shared/data/dm3loc_valid.fa.gz"


class ThreadLocalSession:
    """Looks like one ModelSession; every calling thread gets a session of its own."""

    def __init__(self, path: str):
        self.path = path
        self.local = threading.local()

    def __getattr__(self, name: str):
        if not hasattr(self.local, "session"):
            self.local.session = ModelSession(self.path, device="cpu")
        return getattr(self.local.session, name)


_worker_session = None


def _init_worker(path: str) -> None:
    global _worker_session
    _worker_session = ModelSession(path, device="cpu")


def _run_batch(codes: List[np.ndarray]) -> np.ndarray:
    tokens, lengths = pad_batch(codes)
    return _worker_session.run(tokens, lengths)[0]


def run_stream(records: List[Record], session, workers: int, batch_nt: int = BatchConfig.batch_nt) -> None:
    for _ in predict_stream(iter(records), session, BatchConfig(batch_nt=batch_nt), workers=workers):
        pass


def run_processes(records: List[Record], pool, config: BatchConfig = BatchConfig()) -> None:
    """Windows and batches as the runtime makes them, the batches sent to worker processes."""
    for start in range(0, len(records), config.window_records):
        window = records[start : start + config.window_records]
        batches = plan_batches([r.length for r in window], config.batch_nt)
        for _ in pool.imap_unordered(_run_batch, [[window[i].codes for i in b] for b in batches]):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--workers", type=int, default=None, help="N (default: available cores)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--valid-every", type=int, default=2, help="use every k-th validation record")
    parser.add_argument("--short-records", type=int, default=20_000)
    parser.add_argument("--batch-nts", default="", help="extra serial and threads_shared runs at these --batch-nt values, e.g. 16384,32768")
    parser.add_argument("--strategies", default="", help="comma list of strategies to run (serial always runs)")
    args = parser.parse_args()
    n = args.workers or available_cpus()
    path = str(resolve_model(args.model))
    valid = [r for r in read_fasta(VALID, warn_duplicates=False) if isinstance(r, Record)][:: args.valid_every]
    rng = np.random.default_rng(21)
    short = [Record(f"s{i}", f"s{i}", rng.integers(0, 4, 300).astype(np.uint8), "<synthetic>", i + 1)
             for i in range(args.short_records)]
    inputs = {"valid": valid, "300nt": short}
    serial, intra = ModelSession(path, device="cpu"), ModelSession(path, device="cpu", intra_op_threads=n)
    shared, own = ModelSession(path, device="cpu"), ThreadLocalSession(path)
    pool = multiprocessing.get_context("fork").Pool(n, initializer=_init_worker, initargs=(path,))
    strategies: Dict[str, Callable[[List[Record]], None]] = {
        "serial": lambda recs: run_stream(recs, serial, 1),
        "intra_op": lambda recs: run_stream(recs, intra, 1),
        "threads_shared": lambda recs: run_stream(recs, shared, n),
        "threads_own": lambda recs: run_stream(recs, own, n),
        "processes": lambda recs: run_processes(recs, pool),
    }
    for budget in filter(None, args.batch_nts.split(",")):
        strategies[f"serial, batch_nt {int(budget):,}"] = lambda recs, b=int(budget): run_stream(recs, serial, 1, b)
        strategies[f"threads_shared, batch_nt {int(budget):,}"] = lambda recs, b=int(budget): run_stream(recs, shared, n, b)
    if args.strategies:
        strategies = {k: v for k, v in strategies.items() if k == "serial" or k.split(",")[0] in args.strategies.split(",")}
    names = list(strategies)
    wall = {(s, i): 0.0 for s in names for i in inputs}
    for k in range(args.rounds):
        for name in names[k % len(names):] + names[: k % len(names)]:
            for label, recs in inputs.items():
                started = time.perf_counter()
                strategies[name](recs)
                wall[(name, label)] += time.perf_counter() - started
    pool.close()
    pool.join()
    print(f"model {args.model}, N = {n} cores, {args.rounds} rounds; "
          + ", ".join(f"{label}: {len(r):,} records, {sum(x.length for x in r):,} nt" for label, r in inputs.items()))
    print("| strategy | " + " | ".join(f"{label} Mnt/s | vs serial" for label in inputs) + " |")
    print("|---|" + "---:|---:|" * len(inputs))
    for name in names:
        cells = []
        for label, recs in inputs.items():
            nt = sum(r.length for r in recs) * args.rounds
            cells += [f"{nt / wall[(name, label)] / 1e6:.2f}", f"{wall[('serial', label)] / wall[(name, label)]:.2f}x"]
        print(f"| `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
