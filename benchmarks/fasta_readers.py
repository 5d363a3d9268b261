"""Compare FASTA readers for the runtime (the choice is documented in rnaloc_infer/fasta.py).

    python benchmarks/fasta_readers.py [--records 100000]

Writes a synthetic FASTA (records of 200-1,000 nt, 60-column lines) plus a gzip copy, then
times each reader on "parse only" and on "parse + encode to model codes" (what the runtime
needs), best of three. pyfastx/biopython are optional here (benchmark only).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rnaloc_infer.alphabet import encode


def make(path: Path, records: int) -> int:
    rng = np.random.default_rng(0)
    pool = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, 4096)].tobytes()
    total = 0
    with open(path, "wb") as fh:
        for i in range(records):
            n = int(rng.integers(200, 1001))
            start = int(rng.integers(0, len(pool) - n))
            seq = pool[start : start + n]
            total += n
            fh.write(b">r%d description\n" % i + b"\n".join(seq[j : j + 60] for j in range(0, n, 60)) + b"\n")
    return total


def readers():
    from rnaloc_infer.fasta import read_fasta

    def ours(path, enc):
        return sum(r.length for r in read_fasta(path, warn_duplicates=False))

    yield "rnaloc_infer.fasta (xopen rb, bytes)", ours, True
    try:
        import dnaio

        def with_dnaio(path, enc):
            with dnaio.open(path) as reader:
                return sum(len(encode(r.sequence)) if enc else len(r.sequence) for r in reader)

        yield "dnaio.open", with_dnaio, False
    except ImportError:
        pass
    try:
        from Bio.SeqIO.FastaIO import SimpleFastaParser
        from xopen import xopen

        def with_bio(path, enc):
            with xopen(path, "rt") as fh:
                return sum(len(encode(s)) if enc else len(s) for _, s in SimpleFastaParser(fh))

        yield "Bio SimpleFastaParser + xopen", with_bio, False
    except ImportError:
        pass
    try:
        import pyfastx

        def with_pyfastx(path, enc):
            return sum(len(encode(s)) if enc else len(s) for _, s in pyfastx.Fasta(str(path), build_index=False))

        yield "pyfastx.Fasta (paths only, no stdin)", with_pyfastx, False
    except ImportError:
        pass


def best(fn, *args) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "bench.fa"
        nt = make(plain, args.records)
        gz = Path(tmp) / "bench.fa.gz"
        with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        print(f"{args.records:,} records, {nt / 1e6:.1f} Mnt, {plain.stat().st_size / 1e6:.0f} MB plain, {gz.stat().st_size / 1e6:.0f} MB gzip")
        print("| reader | parse only | parse + encode | gzip, parse + encode |\n|---|---:|---:|---:|")
        for name, fn, encodes in readers():
            parse = "-" if encodes else f"{nt / best(fn, plain, False) / 1e6:.0f} Mnt/s"
            enc = f"{nt / best(fn, plain, True) / 1e6:.0f} Mnt/s"
            enc_gz = f"{nt / best(fn, gz, True) / 1e6:.0f} Mnt/s"
            print(f"| {name} | {parse} | {enc} | {enc_gz} |", flush=True)


if __name__ == "__main__":
    main()
