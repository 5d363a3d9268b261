"""Peak memory (max RSS) of `rnaloc-infer` on a huge record and on many short records.

    python benchmarks/memory.py [--model PATH] [--long-nt 20000000] [--short-records 200000]

Each case runs the real command line in a child process; its peak RSS comes from
``os.wait4`` (the kernel's ru_maxrss for exactly that child), so the benchmark's own
memory is not counted. Target: < 1 GB in both cases (memory flat in record count and
length). Without --model the bundled "default" model is used, or, when none is installed
yet, an untrained model of the default size is exported (needs torch; the weights do not
change memory or speed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LINE = 60


def write_long(path: Path, length: int, rng: np.random.Generator) -> None:
    """One record of ``length`` nt, written in 1 Mnt pieces so the generator stays small."""
    with open(path, "wb") as fh:
        fh.write(b">giant synthetic record\n")
        remaining = length
        while remaining:
            n = min(remaining, 1_000_020)  # multiple of LINE
            seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, n)].tobytes()
            fh.write(b"\n".join(seq[i : i + LINE] for i in range(0, n, LINE)) + b"\n")
            remaining -= n


def write_short(path: Path, count: int, rng: np.random.Generator, low: int = 100, high: int = 300) -> int:
    lengths = rng.integers(low, high + 1, count)
    pool = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, high * 64)].tobytes()
    with open(path, "wb") as fh:
        for i, n in enumerate(lengths):
            start = int(rng.integers(0, len(pool) - n))
            fh.write(b">s%d\n%s\n" % (i, pool[start : start + int(n)]))
    return int(lengths.sum())


def default_model(folder: Path) -> str:
    """The bundled model, else an untrained default-size export made in a separate process.

    Exporting in-process would import torch here, and a forked child's ru_maxrss starts at
    the parent's RSS (it is kept across exec), which would inflate every measurement.
    """
    from rnaloc_infer.bundled import bundled_models

    if "default" in bundled_models():
        return "default"
    path = folder / "default_size.onnx"
    code = (
        "import sys, warnings; warnings.simplefilter('ignore')\n"
        "from rnaloc_infer.export.onnx_export import export_onnx\n"
        "from rnaloc_infer.training.models import LocalizationModel, ModelConfig\n"
        "export_onnx(LocalizationModel(ModelConfig()).eval(), sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, stderr=subprocess.DEVNULL)
    print(f"(no bundled model yet: using an untrained default-size model, {path})", file=sys.stderr)
    return str(path)


def measure(command: list) -> tuple:
    """Run a command; return (exit status, peak RSS in MiB, seconds)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, time.perf_counter() - started  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--long-nt", type=int, default=20_000_000)
    parser.add_argument("--short-records", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = args.model or default_model(folder)
        long_fa, short_fa, tiny_fa = folder / "long.fa", folder / "short.fa", folder / "tiny.fa"
        write_long(long_fa, args.long_nt, rng)
        short_nt = write_short(short_fa, args.short_records, rng)
        tiny_fa.write_text(">t\nACGT\n")
        base = [sys.executable, "-m", "rnaloc_infer.cli.predict", "--model", model, "-q", "-o", str(folder / "out.tsv")]
        if args.threads:
            base += ["--threads", str(args.threads)]
        cases = [
            ("baseline: 1 record of 4 nt", tiny_fa, 4),
            (f"1 record of {args.long_nt:,} nt", long_fa, args.long_nt),
            (f"{args.short_records:,} records of 100-300 nt", short_fa, short_nt),
        ]
        _, parent_rss, _ = measure([sys.executable, "-c", "pass"])
        print(f"(benchmark process: {parent_rss:.0f} MiB peak for a bare child, the floor of any figure below)", file=sys.stderr)
        print("| case | nt | peak RSS (MiB) | seconds | nt/s |\n|---|---:|---:|---:|---:|")
        for label, path, nt in cases:
            code, rss, seconds = measure(base + [str(path)])
            if code != 0:
                raise SystemExit(f"{label}: rnaloc-infer exited with {code}")
            print(f"| {label} | {nt:,} | {rss:,.0f} | {seconds:.1f} | {nt / seconds:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
