"""What `rnaloc-infer --profile` costs: the same command with and without it, interleaved.

The profile is computed per output row on the writer's thread (rnaloc_infer.profile), so its
cost is per record and shows most on short records; the runs alternate so that the
machine's drift falls on both sides alike.

    python benchmarks/profile_overhead.py --records 20000 --length 300 --rounds 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_fasta(path: Path, records: int, length: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGT"))
    with open(path, "w") as handle:
        for i in range(records):
            handle.write(f">r{i}\n{''.join(rng.choice(letters, length))}\n")


def timed(command: list) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--length", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        fasta, out = Path(folder) / "in.fa", Path(folder) / "out.tsv"
        write_fasta(fasta, args.records, args.length)
        base = [sys.executable, "-m", "rnaloc_infer.cli.predict", str(fasta), "-q", "--model", args.model, "-o", str(out)]
        timed(base)  # warm the graph cache and the page cache
        ratios = []
        for round_ in range(1, args.rounds + 1):
            plain, profiled = timed(base), timed(base + ["--profile"])
            ratios.append(profiled / plain)
            print(f"round {round_}: plain {plain:.2f} s, --profile {profiled:.2f} s, ratio {ratios[-1]:.3f}", flush=True)
    print(f"{args.records:,} x {args.length} nt, model {args.model}: --profile / plain = "
          f"{np.median(ratios):.3f} (median of {args.rounds})")


if __name__ == "__main__":
    main()
