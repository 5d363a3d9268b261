"""`rnaloc-infer` end to end, the issue-21 targets: validation set, 100,000 x 300 nt, and a
transcriptome-scale input (>= 0.5 Gnt, GENCODE-like lengths), side by side with a baseline.

    python benchmarks/end_to_end.py --cases valid,short --models default,fast \\
        --baseline /work/main/.venv/bin/rnaloc-infer
    python benchmarks/end_to_end.py --cases transcriptome --models default --transcriptome-gnt 0.5
    python benchmarks/end_to_end.py --cases valid --fp32-too --rounds 3 --baseline ...   # int8 twin vs fp32
    python benchmarks/end_to_end.py --cases pieces --short-records 20000 --rounds 3 \
        --baseline <main checkout>/.venv/bin/rnaloc-infer                              # mRNA pieces, ratio
    python benchmarks/end_to_end.py --cases pieces,valid --short-records 20000 --rounds 4 \
        --baseline /work/main/.venv/bin/rnaloc-infer --out benchmarks/results/end_to_end_X.md   # kept as a file

Each case runs the real command line in a child process (gzip FASTA in, TSV out): wall time,
child CPU time and peak RSS (``os.wait4``'s ru_maxrss of exactly that child), Mnt/s =
nucleotides / wall. With ``--baseline CMD`` every case also runs CMD (e.g. another checkout's
``rnaloc-infer``) right after, on the same file, and the two outputs are compared: ``cmp``
(byte-identical) or, failing that, the largest probability difference. Rounds alternate which
command goes first, and the last lines give each case's ratios (baseline / this branch: wall
and CPU seconds, per round and their median): on a busy machine the ratio measured side by
side is the figure to read, not Mnt/s. ``--out FILE`` also writes everything printed (the
command line first) to FILE, for benchmarks/results/.

Cases: ``valid`` (the DM3Loc validation set), ``short`` (--short-records uniform random 300-nt
records), ``pieces`` (--short-records consecutive 300-nt pieces of the real DM3Loc mRNAs, valid
then train: mRNA-like ORFs and UTRs), ``transcriptome`` (below).

The synthetic transcriptome: record lengths from a log-normal with median 1.4 knt and
sigma 0.85 (mean ~2.0 knt, like GENCODE's ~250,000 human transcripts: ~0.5 Gnt), clipped to
[60, 100,000]; every record is a window of the real DM3Loc mRNAs (train + valid concatenated),
so ORFs and composition are those of mRNAs. Generated once into --workdir and reused.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

DATA = Path("/work/shared/data")
LETTERS = np.frombuffer(b"ACGTNN", dtype=np.uint8)


def _real_pool() -> np.ndarray:
    from rnaloc_infer.fasta import Record, read_fasta

    codes = [r.codes for split in ("train", "valid") for r in read_fasta(DATA / f"dm3loc_{split}.fa.gz", warn_duplicates=False)
             if isinstance(r, Record)]
    return LETTERS[np.concatenate(codes)]


def write_transcriptome(path: Path, total_nt: int, seed: int = 21) -> Tuple[int, int]:
    """GENCODE-like synthetic transcriptome (see module doc); returns (records, nt)."""
    rng = np.random.default_rng(seed)
    pool = _real_pool().tobytes()
    records = nt = 0
    with gzip.open(path, "wb", compresslevel=1) as fh:
        while nt < total_nt:
            lengths = np.clip(rng.lognormal(np.log(1_400), 0.85, 10_000).astype(np.int64), 60, 100_000)
            starts = rng.integers(0, len(pool) - 100_000, lengths.size)
            fh.write(b"".join(b">t%d\n%s\n" % (records + i, pool[s : s + n]) for i, (s, n) in enumerate(zip(starts, lengths))))
            records += lengths.size
            nt += int(lengths.sum())
    return records, nt


def write_short(path: Path, count: int, length: int = 300, seed: int = 8) -> Tuple[int, int]:
    rng = np.random.default_rng(seed)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        for start in range(0, count, 10_000):
            n = min(10_000, count - start)
            seqs = LETTERS[rng.integers(0, 4, (n, length))]
            fh.write(b"".join(b">s%d\n%s\n" % (start + i, row.tobytes()) for i, row in enumerate(seqs)))
    return count, count * length


def write_pieces(path: Path, count: int, length: int = 300) -> Tuple[int, int]:
    """Consecutive ``length``-nt pieces of the DM3Loc mRNAs (valid, then train), ``count`` of them."""
    from rnaloc_infer.fasta import Record, read_fasta

    pieces: List[bytes] = []
    for split in ("valid", "train"):
        for r in read_fasta(DATA / f"dm3loc_{split}.fa.gz", warn_duplicates=False):
            if not isinstance(r, Record):
                continue
            letters = LETTERS[r.codes].tobytes()
            for start in range(0, r.length - length + 1, length):
                if len(pieces) == count:
                    break
                pieces.append(b">%s_%d\n%s\n" % (r.id.encode(), start, letters[start : start + length]))
    if len(pieces) < count:
        raise SystemExit(f"the DM3Loc mRNAs hold only {len(pieces):,} pieces of {length} nt")
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b"".join(pieces))
    return count, count * length


def count_fasta(path: Path) -> Tuple[int, int]:
    from rnaloc_infer.fasta import Record, read_fasta

    records = nt = 0
    for r in read_fasta(path, warn_duplicates=False):
        if isinstance(r, Record):
            records, nt = records + 1, nt + r.length
    return records, nt


def run(command: List[str], fasta: Path, out: Path, model: str, threads: Optional[int]) -> Tuple[float, float, float]:
    """(wall s, child CPU s, peak RSS MiB) of one command-line run."""
    return timed(command + [str(fasta), "-o", str(out), "--model", model, "-q"] + (["--threads", str(threads)] if threads else []))


def timed(cmd: List[str]) -> Tuple[float, float, float]:
    """(wall s, child CPU s, peak RSS MiB) of one child process; exits naming the command if it fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with status {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def compare(a: Path, b: Path) -> str:
    """Byte-identical files, else identical probability columns (other columns may differ
    between versions), else the largest probability difference (as printed, 4 decimals)."""
    if subprocess.run(["cmp", "-s", str(a), str(b)]).returncode == 0:
        return "identical (cmp)"

    def probs(path: Path) -> np.ndarray:
        rows = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
        header = rows[0]
        columns = slice(header.index("length") + 1, header.index("labels"))
        return np.array([[float(x) for x in row[columns]] for row in rows[1:]])

    diff = np.abs(probs(a) - probs(b)).max()
    return "probabilities identical (other columns differ)" if diff == 0 else f"max |diff| {diff:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="valid,short", help="comma list: valid, short, pieces, transcriptome")
    parser.add_argument("--models", default="default")
    parser.add_argument("--threads", type=int, default=None, help="--threads for the runs (default: none = all cores)")
    parser.add_argument("--baseline", default=None, help="a second rnaloc-infer command to run side by side")
    parser.add_argument("--short-records", type=int, default=100_000)
    parser.add_argument("--transcriptome-gnt", type=float, default=0.5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rnaloc_end_to_end"))
    parser.add_argument("--fp32-too", action="store_true", help="also run this branch with --precision fp32 (no int8 twin)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every case this many times (rows per round)")
    parser.add_argument("--out", type=Path, default=None, help="also write the printed report to this file")
    args = parser.parse_args()
    report: List[str] = [f"`python {' '.join(sys.argv)}`", ""]

    def say(line: str) -> None:
        print(line, flush=True)
        report.append(line)

    args.workdir.mkdir(parents=True, exist_ok=True)
    ours = [sys.executable, "-m", "rnaloc_infer.cli.predict"]
    inputs = {}
    for case in args.cases.split(","):
        if case == "valid":
            inputs[case] = (DATA / "dm3loc_valid.fa.gz", count_fasta(DATA / "dm3loc_valid.fa.gz"))
        elif case == "short":
            path = args.workdir / f"short_{args.short_records}x300.fa.gz"
            inputs[case] = (path, write_short(path, args.short_records) if not path.exists() else count_fasta(path))
        elif case == "pieces":
            path = args.workdir / f"pieces_{args.short_records}x300.fa.gz"
            inputs[case] = (path, write_pieces(path, args.short_records) if not path.exists() else count_fasta(path))
        elif case == "transcriptome":
            path = args.workdir / f"transcriptome_{args.transcriptome_gnt:g}Gnt.fa.gz"
            if not path.exists():
                partial = path.with_suffix(".tmp")
                write_transcriptome(partial, int(args.transcriptome_gnt * 1e9))
                partial.rename(path)
            inputs[case] = (path, count_fasta(path))
        else:
            raise SystemExit(f"unknown case {case!r}")
    say(f"load average at start {os.getloadavg()[0]:.1f}; cores {len(os.sched_getaffinity(0))}; threads {args.threads or 'default (all)'}")
    say("| case | model | command | records | nt | wall s | CPU s | Mnt/s | peak RSS MiB | output |\n|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    ratios: Dict[Tuple[str, str], List[Tuple[float, float]]] = {}
    runs = [item for _ in range(args.rounds) for item in inputs.items()]
    for number, (case, (fasta, (records, nt))) in enumerate(runs):
        for index, model in enumerate(args.models.split(",")):  # a model may be a path: files are named by index
            commands = [("this branch", ours)]
            commands += [("this branch, --precision fp32", ours + ["--precision", "fp32"])] if args.fp32_too else []
            commands += [("baseline", args.baseline.split())] if args.baseline else []
            if (number // len(inputs)) % 2:  # odd rounds: the other order, so neither always goes first
                commands = commands[::-1]
            outs: Dict[str, Path] = {}
            timed: Dict[str, Tuple[float, float]] = {}
            for label, command in commands:
                out = args.workdir / f"{case}_model{index}_{len(outs)}.tsv"
                wall, cpu, rss = run(command, fasta, out, model, args.threads)
                note = compare(outs["this branch"] if label != "this branch" and "this branch" in outs else next(iter(outs.values())), out) if outs else ""
                outs[label] = out
                timed[label] = (wall, cpu)
                say(f"| {case} | {model} | {label} | {records:,} | {nt:,} | {wall:.1f} | {cpu:.1f} | {nt / wall / 1e6:.2f} | "
                      f"{rss:.0f} | {note} |")
            if "baseline" in timed:
                (base_wall, base_cpu), (wall, cpu) = timed["baseline"], timed["this branch"]
                ratios.setdefault((case, model), []).append((base_wall / wall, base_cpu / cpu))
    for (case, model), pairs in ratios.items():
        walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
        say(f"{case}, {model}: baseline / this branch, wall {' '.join(f'{w:.2f}' for w in walls)} (median {np.median(walls):.2f}x), "
              f"CPU s {' '.join(f'{c:.2f}' for c in cpus)} (median {np.median(cpus):.2f}x)")
    say(f"load average at end {os.getloadavg()[0]:.1f}")
    if args.out is not None:
        from rnaloc_infer.output.files import atomic_write_text

        atomic_write_text(args.out, "\n".join(report) + "\n")


if __name__ == "__main__":
    main()
