"""Fused ensemble members vs the unfused file, side by side in one process (docs/PERFORMANCE.md).

    python benchmarks/fused_members.py --baseline OLD.onnx --candidate NEW.onnx
    python benchmarks/fused_members.py --baseline OLD.onnx --candidate NEW.onnx --compare-only

Both files are scored through the runtime's own batching (:class:`rnaloc_infer.api.Predictor`,
1 and 2 threads) on the same records, interleaved in rotating order, ``--repeats`` times:
the first ``--valid-records`` validation records, ``--short`` random 300-nt records, and with
``--long NT`` one random record of NT nucleotides (chunked, one row per call).
Prints the median Mnt/s (wall) and Mnt per CPU-second of each, the ratios candidate / baseline
and the largest probability difference; ``--compare-only`` (or the end of a timed run) also scores the *whole* validation
set with both and prints that difference (the fused file must stay within 1e-5).

Without ``--candidate`` the candidate is exported here: the baseline rebuilt in PyTorch from
its own ONNX file (:mod:`rnaloc_infer.export.from_onnx`) and re-exported with its networks
fused (needs the [train] extra). ``--hybrid-max-batch 0,64`` adds fused exports whose
recurrence switches from the blocked form to the per-step ``Scan`` above another batch size
(shipped: 8), timed in the same rotation.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from rnaloc_infer.api import Predictor
from rnaloc_infer.fasta import Record, read_fasta

VALID = Path("/work/shared/data/dm3loc_valid.fa.gz")


def valid_records(limit: int = 0) -> List[Record]:
    records = [r for r in read_fasta(VALID, warn_duplicates=False) if isinstance(r, Record)]
    return records[:limit] if limit else records


def short_records(count: int, length: int = 300, seed: int = 8) -> List[Record]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (count, length)).astype(np.uint8)
    return [Record(f"s{i}", f"s{i}", row, "<short>", i + 1, 0) for i, row in enumerate(codes)]


def timed(models: Dict[str, Path], records: List[Record], threads: int, repeats: int) -> Dict[str, dict]:
    """Per model (interleaved, rotating order): median Mnt/s of wall time and Mnt per CPU-second
    of this process (all its threads; steadier than wall time on a shared machine), and the
    probabilities."""
    predictors = {name: Predictor(path, device="cpu", threads=threads) for name, path in models.items()}
    nt = sum(r.length for r in records)
    wall: Dict[str, List[float]] = {name: [] for name in models}
    cpu: Dict[str, List[float]] = {name: [] for name in models}
    probs: Dict[str, np.ndarray] = {}
    names = list(models)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            started, cpu_started = time.perf_counter(), time.process_time()
            probs[name] = predictors[name].predict_records(records)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    return {name: {"mnt_s": nt / statistics.median(wall[name]) / 1e6, "mnt_cpu_s": nt / statistics.median(cpu[name]) / 1e6,
                   "probs": probs[name]} for name in names}


def per_call(models: Dict[str, Path], repeats: int) -> None:
    """CPU ms of single ``session.run`` calls on fixed batches of the runtime's kinds (one thread,
    interleaved, median): less exposed to a busy machine's noise than whole runs."""
    from rnaloc_infer.alphabet import pad_batch
    from rnaloc_infer.features.coding import coding_feature_matrix
    from rnaloc_infer.session import ModelSession

    by_length = sorted(valid_records(400), key=lambda r: r.length)
    batches = {"32 x ~2.8 knt": by_length[200:232], "8 x ~1.5 knt": by_length[100:108], "2 x ~12 knt": by_length[395:397],
               "1 x ~5 knt": by_length[390:391], "200 x 300 nt": short_records(200)}
    sessions = {name: ModelSession(path, device="cpu") for name, path in models.items()}
    names = list(models)
    print("batch\tnt\t" + "\t".join(f"{name} ms (ratio)" for name in names))
    for label, records in batches.items():
        tokens, lengths = pad_batch([r.codes for r in records])
        features = coding_feature_matrix([r.codes for r in records])
        ms: Dict[str, List[float]] = {name: [] for name in names}
        for repeat in range(repeats + 1):
            for name in names[repeat % len(names):] + names[: repeat % len(names)]:
                started = time.process_time()
                sessions[name].run(tokens, lengths, features=features)
                if repeat:  # the first call of each warms up
                    ms[name].append((time.process_time() - started) * 1e3)
        base = statistics.median(ms[names[0]])
        print(f"{label}\t{int(lengths.sum())}\t" + "\t".join(
            f"{statistics.median(ms[n]):.1f} ({base / statistics.median(ms[n]):.2f}x)" for n in names), flush=True)


def fused_export(baseline: Path, out: Path, hybrid_max_batch: Optional[int] = None) -> Path:
    """``baseline`` rebuilt and re-exported fused; ``hybrid_max_batch``: another batch size up to
    which the recurrence takes its blocked form (export.scan.HYBRID_MAX_BATCH)."""
    from rnaloc_infer.export import scan
    from rnaloc_infer.export.from_onnx import reexport

    shipped = scan.HYBRID_MAX_BATCH
    scan.HYBRID_MAX_BATCH = shipped if hybrid_max_batch is None else hybrid_max_batch
    try:
        return reexport(baseline, out, fuse=True, fp16=False)[0]
    finally:
        scan.HYBRID_MAX_BATCH = shipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=Path("rnaloc_infer/models/default.onnx"))
    parser.add_argument("--candidate", type=Path, default=None, help="default: export the baseline fused, here")
    parser.add_argument("--hybrid-max-batch", default="",
                        help="comma-separated: also time fused exports whose recurrence is blocked up to these batch sizes")
    parser.add_argument("--valid-records", type=int, default=1000)
    parser.add_argument("--short", type=int, default=20_000)
    parser.add_argument("--long", type=int, default=0, metavar="NT",
                        help="also one random record of NT nucleotides (the chunked path above --chunk-nt)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare-only", action="store_true", help="only the whole-validation-set difference")
    parser.add_argument("--per-call", type=int, default=0, metavar="REPEATS",
                        help="instead: CPU time of single model calls on fixed batches, REPEATS times")
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="further files to time in the same rotation")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fused_members_"))
    models = {"baseline": args.baseline, "candidate": args.candidate or fused_export(args.baseline, workdir / "fused.onnx")}
    for value in filter(None, args.hybrid_max_batch.split(",")):
        models[f"blocked<={value}"] = fused_export(args.baseline, workdir / f"fused_{value}" / "fused.onnx", int(value))
    models.update({str(path): path for path in args.also})
    if args.per_call:
        per_call(models, args.per_call)
        return
    others = list(models)[1:]
    if not args.compare_only:
        cases = {f"valid[:{args.valid_records}]": valid_records(args.valid_records),
                 f"{args.short} x 300 nt": short_records(args.short)}
        if args.long:
            cases[f"1 x {args.long} nt"] = short_records(1, args.long)
        print("case\tthreads\tmodel\tMnt/s\tratio\tMnt/CPU-s\tratio\tmax |dp|")
        for case, records in cases.items():
            for threads in (int(t) for t in args.threads.split(",")):
                result = timed(models, records, threads, args.repeats)
                base = result["baseline"]
                print(f"{case}\t{threads}\tbaseline\t{base['mnt_s']:.3f}\t\t{base['mnt_cpu_s']:.3f}\t\t", flush=True)
                for name in others:
                    got = result[name]
                    diff = float(np.abs(base["probs"] - got["probs"]).max())
                    print(f"{case}\t{threads}\t{name}\t{got['mnt_s']:.3f}\t{got['mnt_s'] / base['mnt_s']:.2f}\t"
                          f"{got['mnt_cpu_s']:.3f}\t{got['mnt_cpu_s'] / base['mnt_cpu_s']:.2f}\t{diff:.2g}", flush=True)
    records = valid_records()
    whole = timed({"baseline": models["baseline"], "candidate": models["candidate"]}, records, 2, 1)
    diff = float(np.abs(whole["baseline"]["probs"] - whole["candidate"]["probs"]).max())
    print(f"whole validation set ({len(records)} records): max |dp| = {diff:.2g}")


if __name__ == "__main__":
    main()
