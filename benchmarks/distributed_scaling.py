"""Throughput of distributed prediction (Ray) against worker count, with the local runtime as reference.

Generates a synthetic FASTA (random ACGT, uniform lengths; split over --files files) in
--workdir, takes a model (the bundled "default" when installed, else, or with --export-model, a small
model exported with rnaloc_infer.export.onnx_export.export_onnx), and measures in one process:

  local-1t   single-process runtime (cli.predict.run), ONNX Runtime with 1 thread
  local-all  single-process runtime, ONNX Runtime with all cores
  ray-N      predict_distributed with N CPU actors (1 ORT thread each) on one local Ray
             started once with --num-cpus (Ray startup is reported separately, not timed)

Configurations run interleaved, --repeats rounds (background load then hits all alike);
the best and median times are reported. Every distributed output is checked byte-for-byte
against the local output. Results go to
--out (TSV) and to the log as a Markdown table for docs/DISTRIBUTED.md.

    python benchmarks/distributed_scaling.py --records 20000 --min-len 500 --max-len 5000 \
        --workers 1,2 --num-cpus 2
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

log = logging.getLogger("distributed_scaling")

_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)


def make_inputs(workdir: Path, records: int, min_len: int, max_len: int, files: int, seed: int) -> List[str]:
    """Random records in `files` FASTA files (60-column lines); returns the paths."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, records)
    paths = []
    per_file = np.array_split(np.arange(records), files)
    for k, indices in enumerate(per_file):
        path = workdir / f"synthetic_{k}.fa"
        with open(path, "wb") as fh:
            for i in indices:
                seq = _LETTERS[rng.integers(0, 4, int(lengths[i]), dtype=np.uint8)].tobytes()
                lines = b"\n".join(seq[j : j + 60] for j in range(0, len(seq), 60))
                fh.write(b">rec%d\n%s\n" % (i, lines))
        paths.append(str(path))
    return paths


def get_model(workdir: Path, kind: str, hidden: int, export: bool) -> str:
    """The bundled default model when present (and not --export-model), else a small exported one (untrained weights)."""
    from rnaloc_infer.bundled import bundled_models

    if "default" in bundled_models() and not export:
        return "default"
    path = workdir / f"bench_{kind}_h{hidden}.onnx"
    if not path.exists():
        import torch

        from rnaloc_infer.export.onnx_export import export_onnx
        from rnaloc_infer.training.models import LocalizationModel, ModelConfig

        torch.manual_seed(0)
        model = LocalizationModel(ModelConfig(kind=kind, hidden=hidden, layers=2, dropout=0.0)).eval()
        export_onnx(model, path)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--min-len", type=int, default=500)
    parser.add_argument("--max-len", type=int, default=5_000)
    parser.add_argument("--files", type=int, default=4, help="input files (Ray reads them, and byte ranges of them, in parallel)")
    parser.add_argument("--workers", default="1,2", help="comma-separated Ray worker counts")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count(), help="CPUs of the local Ray")
    parser.add_argument("--export-model", action="store_true", help="use a small exported model (--kind, --hidden) even when a bundled default exists")
    parser.add_argument("--kind", default="tcn")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration; the fastest is reported (shared machines are noisy)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rnaloc_distributed_bench"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "distributed_scaling.tsv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("rnaloc_infer").setLevel(logging.WARNING)

    import ray

    from rnaloc_infer.cli.predict import run
    from rnaloc_infer.distributed.engine import predict_distributed
    from rnaloc_infer.output.run import RunOptions

    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    inputs = make_inputs(args.workdir, args.records, args.min_len, args.max_len, args.files, args.seed)
    model = get_model(args.workdir, args.kind, args.hidden, args.export_model)
    log.info("inputs: %d records in %d files (%.1f s to write); model %s", args.records, args.files, time.perf_counter() - started, model)

    reference = args.workdir / "local.tsv"
    run(RunOptions(inputs=inputs, output=str(reference), model=model, threads=1, progress=False))  # warm-up + reference
    total_nt = sum(int(line.split("\t")[1]) for line in reference.read_text().splitlines()[2:])

    t0 = time.perf_counter()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    log.info("ray.init (local, %d CPUs): %.1f s (not included below)", args.num_cpus, time.perf_counter() - t0)

    def local(threads):
        def go() -> float:
            t = time.perf_counter()
            run(RunOptions(inputs=inputs, output=str(args.workdir / "local_again.tsv"), model=model, threads=threads, progress=False))
            return time.perf_counter() - t
        return go

    def distributed(workers: int):
        def go() -> float:
            output = args.workdir / f"ray_{workers}.tsv"
            summary = predict_distributed(RunOptions(inputs=list(inputs), output=str(output), model=model,
                                                     num_workers=workers, progress=False))
            if output.read_bytes() != reference.read_bytes():
                raise SystemExit(f"ray-{workers}: output differs from the single-process runtime")
            return summary.seconds
        return go

    configs = [("local-1t", 1, local(1)), ("local-all", 1, local(None))]
    configs += [(f"ray-{w}", w, distributed(w)) for w in (int(x) for x in args.workers.split(","))]
    times: Dict[str, List[float]] = {name: [] for name, _, _ in configs}
    try:
        for repeat in range(args.repeats):  # interleaved, so background load hits every configuration alike
            for name, _, go in configs:
                times[name].append(go())
                log.info("round %d %s: %.1f s", repeat + 1, name, times[name][-1])
    finally:
        ray.shutdown()
    rows: List[Dict[str, object]] = [
        {"engine": name, "workers": workers, "seconds": min(times[name]), "median": float(np.median(times[name])), "nt": total_nt}
        for name, workers, _ in configs
    ]

    base = next(r["seconds"] for r in rows if r["engine"] == "local-1t")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("engine\tworkers\trecords\tnt\tbest_s\tmedian_s\tnt_per_s\tspeedup_vs_local_1t\n")
        for r in rows:
            fh.write(f"{r['engine']}\t{r['workers']}\t{args.records}\t{r['nt']}\t{r['seconds']:.2f}\t{r['median']:.2f}\t{r['nt'] / r['seconds']:.0f}\t{base / r['seconds']:.2f}\n")
    table = ["| engine | workers | best s | median s | nt/s (best) | speed-up vs local 1 thread |", "|---|---|---|---|---|---|"]
    table += [f"| {r['engine']} | {r['workers']} | {r['seconds']:.1f} | {r['median']:.1f} | {r['nt'] / r['seconds']:,.0f} | {base / r['seconds']:.2f} |" for r in rows]
    log.info("results in %s\n%s", args.out, "\n".join(table))


if __name__ == "__main__":
    main()
