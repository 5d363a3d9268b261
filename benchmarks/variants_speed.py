"""`rnaloc-variants` end to end (issue 34): the exact ISM engine against re-scoring, side by side.

    python benchmarks/variants_speed.py --sizes 100000x2000,50000x1000 --threads 2 \\
        --out benchmarks/results/variants_speed.tsv
    python benchmarks/variants_speed.py --sizes 10000x200,5000x100 ...   # a busy machine: the ratios

Input, per size ``SNVSxTRANSCRIPTS`` (generated once into --workdir, seeded, reused): a
synthetic genome built from real mRNAs. TRANSCRIPTS validation mRNAs of DM3Loc (a seeded
sample) are each cut into 1-5 exons (cut points uniform, exons >= 60 nt) with random-sequence
introns of 200-2,000 nt between them, laid out one after the other (500 nt apart) on contigs
of up to 500 transcripts, half of them (seeded) on the minus strand (the mRNA is written
reverse-complemented, so splicing the minus-strand transcript gives the mRNA back); the GTF
has their exons. SNVS SNVs: distinct exonic positions drawn uniformly over all exonic
nucleotides (so a long transcript gets more), ALT uniform among the three other bases; the
VCF is sorted by position. Every SNV is in exactly one transcript: one entry each.

Both commands are the same ``rnaloc-variants VCF --genome FA --annotation GTF -o OUT.vcf
--threads N`` on the bundled default model (fp32), run in a child process each (wall time,
child CPU time, peak RSS from ``os.wait4``):

* ``ism``: the command as shipped (SNVs by explain's exact ISM engine).
* ``rescore``: the same command with the ISM engine switched off
  (``rnaloc_infer.variants.scoring.numpy_model_for`` returns None), so each alt transcript
  and its reference are scored whole by the runtime's normal batched predict path
  (``batching.predict_stream``, as ``rnaloc-infer`` does): the baseline.

The two outputs are compared entry by entry (4 decimals: they may differ by one unit in the
last place). Rounds alternate which command goes first; ratio = rescore / ism (wall and CPU
seconds). On a busy machine the side-by-side ratio is the figure to read, and the CPU
seconds the steadier measure of work; ``load_1min`` is recorded with every run.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "dm3loc_valid.fa.gz"
LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)
COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
PER_CONTIG = 500
GAP = 500
RESCORE = ("import sys; import rnaloc_infer.variants.scoring as s; s.numpy_model_for = lambda session: None; "
           "from rnaloc_infer.cli.variants import main; sys.argv[0] = 'rnaloc-variants'; main()")


def parse_size(text: str) -> Tuple[int, int]:
    snvs, transcripts = text.lower().split("x")
    return int(snvs), int(transcripts)


def make_inputs(folder: Path, n_snvs: int, n_transcripts: int, seed: int = 34) -> Dict[str, Path]:
    """Genome FASTA (+ .fai), GTF and VCF of one size (module docstring); reused when present."""
    files = {"fa": folder / "genome.fa", "gtf": folder / "genes.gtf", "vcf": folder / "snvs.vcf"}
    if all(p.is_file() for p in files.values()) and (folder / "genome.fa.fai").is_file():
        return files
    from rnaloc_infer.fasta import Record, read_fasta

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    mrnas = [r for r in read_fasta(DATA, warn_duplicates=False) if isinstance(r, Record) and r.ambiguous == 0]
    if n_transcripts > len(mrnas):
        raise SystemExit(f"{DATA} has only {len(mrnas):,} mRNAs, {n_transcripts:,} transcripts asked for")
    chosen = [mrnas[i] for i in sorted(rng.choice(len(mrnas), n_transcripts, replace=False))]
    contigs: List[np.ndarray] = []
    gtf: List[str] = []
    exonic: List[Tuple[int, int, int]] = []  # (contig index, start, end) of every exon
    pieces: List[np.ndarray] = []
    at = GAP
    for k, rec in enumerate(chosen):
        if k % PER_CONTIG == 0 and pieces:
            contigs.append(np.concatenate(pieces + [rng.integers(0, 4, GAP).astype(np.uint8)]))
            pieces, at = [], GAP
        if not pieces:
            pieces.append(rng.integers(0, 4, GAP).astype(np.uint8))
        codes = np.minimum(rec.codes, 4)
        strand = "-" if rng.random() < 0.5 else "+"
        plus = COMPLEMENT[codes[::-1]] if strand == "-" else codes
        n_exons = int(rng.integers(1, 6))
        n_exons = max(1, min(n_exons, len(plus) // 60))
        cuts = np.sort(rng.choice(np.arange(60, len(plus) - 59), n_exons - 1, replace=False)) if n_exons > 1 else []
        bounds = [0, *[int(c) for c in cuts], len(plus)]
        if any(b - a < 60 for a, b in zip(bounds, bounds[1:])):  # too close: one exon
            bounds = [0, len(plus)]
        chrom = f"chr{len(contigs) + 1}"
        tid, gene = f"T{k:05d}", f"G{k:05d}"
        attrs = f'gene_id "{gene}"; transcript_id "{tid}"; gene_name "{gene}"; transcript_type "protein_coding";'
        for e, (a, b) in enumerate(zip(bounds, bounds[1:])):
            if e:
                intron = rng.integers(0, 4, int(rng.integers(200, 2001))).astype(np.uint8)
                pieces.append(intron)
                at += len(intron)
            pieces.append(plus[a:b])
            gtf.append(f"{chrom}\tBENCH\texon\t{at + 1}\t{at + b - a}\t.\t{strand}\t.\t{attrs}")
            exonic.append((len(contigs), at, at + b - a))
            at += b - a
        pieces.append(rng.integers(0, 4, GAP).astype(np.uint8))
        at += GAP
    contigs.append(np.concatenate(pieces))
    with open(files["fa"], "wb") as fh:
        for i, c in enumerate(contigs):
            letters = LETTERS[c].tobytes()
            fh.write(b">chr%d\n" % (i + 1) + b"\n".join(letters[j:j + 60] for j in range(0, len(letters), 60)) + b"\n")
    files["gtf"].write_text("\n".join(gtf) + "\n")
    sizes = np.array([e - s for _, s, e in exonic])
    total = int(sizes.sum())
    if n_snvs > total:
        raise SystemExit(f"{n_snvs:,} SNVs asked for, the transcripts hold {total:,} exonic nt")
    flat = np.sort(rng.choice(total, n_snvs, replace=False))
    exon = np.searchsorted(np.cumsum(sizes), flat, side="right")
    offset = flat - (np.cumsum(sizes) - sizes)[exon]
    shift = rng.integers(1, 4, n_snvs)
    lines = ["##fileformat=VCFv4.2"] + [f"##contig=<ID=chr{i + 1},length={len(c)}>" for i, c in enumerate(contigs)]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    for n, (e, o, s) in enumerate(zip(exon, offset, shift)):
        contig, start, _ = exonic[int(e)]
        pos = start + int(o)
        ref = int(contigs[contig][pos])
        lines.append(f"chr{contig + 1}\t{pos + 1}\tsnv{n}\t{'ACGT'[ref]}\t{'ACGT'[(ref + int(s)) % 4]}\t.\tPASS\t.")
    files["vcf"].write_text("\n".join(lines) + "\n")
    import pysam

    pysam.faidx(str(files["fa"]))
    return files


def run(command: List[str], files: Dict[str, Path], out: Path, threads: int) -> Tuple[float, float, float]:
    """(wall s, child CPU s, peak RSS MiB) of one command-line run."""
    return timed(command + [str(files["vcf"]), "--genome", str(files["fa"]), "--annotation", str(files["gtf"]),
                            "-o", str(out), "--threads", str(threads), "-q"])


def entries(path: Path) -> Dict[Tuple[str, str, str], np.ndarray]:
    found = {}
    with open(path) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            for item in cols[7].split(";"):
                if item.startswith("RNALOC="):
                    for entry in item[7:].split(","):
                        f = entry.split("|")
                        found[(cols[2], f[0], f[2])] = np.array([float(x) for x in f[3:-1]])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000x2000,50000x1000", help="comma list of SNVSxTRANSCRIPTS")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--engines", default="ism,rescore", help="which commands to run (ism, rescore)")
    parser.add_argument("--workdir", default="/tmp/rnaloc_variants_bench")
    parser.add_argument("--machine", default="shared", help="the machine's state, written with each row (shared/idle)")
    parser.add_argument("--out", default="", help="TSV of the runs (one row per size, round and engine; replaced)")
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    commands = {"ism": [str(bindir / "rnaloc-variants")], "rescore": [sys.executable, "-c", RESCORE]}
    engines = args.engines.split(",")
    rows = []
    for size in args.sizes.split(","):
        n_snvs, n_transcripts = parse_size(size)
        folder = Path(args.workdir) / f"{n_snvs}x{n_transcripts}"
        started = time.perf_counter()
        files = make_inputs(folder, n_snvs, n_transcripts)
        print(f"{size}: inputs in {folder} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        for r in range(args.rounds):
            order = engines if r % 2 == 0 else engines[::-1]
            times = {}
            for engine in order:
                out = folder / f"out_{engine}.vcf"
                load = os.getloadavg()[0]
                wall, cpu, rss = run(commands[engine], files, out, args.threads)
                times[engine] = (wall, cpu)
                rows.append({"snvs": n_snvs, "transcripts": n_transcripts, "engine": engine, "round": r + 1,
                             "threads": args.threads, "wall_s": f"{wall:.1f}", "cpu_s": f"{cpu:.1f}", "rss_mib": f"{rss:.0f}",
                             "load_1min": f"{load:.1f}", "machine": args.machine})
                print(f"{size} round {r + 1} {engine}: {wall:.1f} s wall, {cpu:.1f} s CPU, {rss:.0f} MiB, load {load:.1f}",
                      file=sys.stderr)
            if set(times) >= {"ism", "rescore"}:
                a, b = entries(folder / "out_ism.vcf"), entries(folder / "out_rescore.vcf")
                assert set(a) == set(b) and len(a) == n_snvs, (len(a), len(b))
                diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
                for row in rows[-2:]:
                    row.update(wall_ratio=f"{times['rescore'][0] / times['ism'][0]:.2f}",
                               cpu_ratio=f"{times['rescore'][1] / times['ism'][1]:.2f}", max_abs_diff=f"{diff:.4f}")
                print(f"{size} round {r + 1}: rescore / ism = {times['rescore'][0] / times['ism'][0]:.2f} wall, "
                      f"{times['rescore'][1] / times['ism'][1]:.2f} CPU; {len(a):,} entries, max |diff| {diff:.4f}",
                      file=sys.stderr)
    if args.out:
        fields = ["snvs", "transcripts", "engine", "round", "threads", "wall_s", "cpu_s", "rss_mib", "load_1min", "machine",
                  "wall_ratio", "cpu_ratio", "max_abs_diff"]
        from rnaloc_infer.output.files import atomic_output

        with atomic_output(args.out) as fh:
            writer = csv.DictWriter(fh, fields, delimiter="\t", restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
