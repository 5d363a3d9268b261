"""Genome-scale input benchmark: annotation parsing + transcript extraction (+ end-to-end).

Generates (numpy, seconds) a random genome FASTA of --genome-mnt Mnt (optionally bgzipped)
and a GTF with --transcripts multi-exon transcripts on both strands, then measures in a
fresh subprocess (so peak RSS is that of the measured work only):

  parse      read_annotation() on the GTF
  extract    stream every transcript's spliced sequence + encode() (the runtime's input)
  e2e        the same through rnaloc_infer.api.Predictor with a tiny exported model, when
             both the runtime API and the exporter are importable (else reported as skipped)

Data go to --workdir (default /tmp/rnaloc_genome_bench), never into the repository.

    python benchmarks/genome_scale.py --genome-mnt 100 --transcripts 50000 --bgzip \
        --backends pyfaidx,pysam
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

log = logging.getLogger("genome_scale")

_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)


def make_genome(total_nt: int, n_contigs: int, seed: int) -> List[Tuple[str, np.ndarray]]:
    """Random contigs (uint8 ASCII arrays) summing to ``total_nt``, a few N runs sprinkled in."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 1.5, n_contigs)
    sizes = np.maximum((weights / weights.sum() * total_nt).astype(np.int64), 10_000)
    contigs = []
    for i, size in enumerate(sizes):
        seq = _LETTERS[rng.integers(0, 4, int(size), dtype=np.uint8)]
        for start in rng.integers(0, size - 1000, 3):
            seq[start:start + 500] = ord("N")
        contigs.append((f"chr{i + 1}", seq))
    return contigs


def write_fasta(path: Path, contigs: List[Tuple[str, np.ndarray]], width: int = 60) -> None:
    """FASTA with fixed-width lines (what faidx expects), written via one reshape per contig."""
    with open(path, "wb") as fh:
        for name, seq in contigs:
            fh.write(f">{name} synthetic\n".encode())
            full = len(seq) // width * width
            block = np.empty((full // width, width + 1), dtype=np.uint8)
            block[:, :width] = seq[:full].reshape(-1, width)
            block[:, width] = ord("\n")
            fh.write(block.tobytes())
            if len(seq) > full:
                fh.write(seq[full:].tobytes() + b"\n")


def make_transcripts(contigs: List[Tuple[str, np.ndarray]], n_transcripts: int, seed: int) -> List[Dict]:
    """Genes of 1-4 isoforms, 1-12 exons (50-400 nt) separated by 80-4000 nt introns,
    70% protein_coding / 30% lncRNA, returned in genomic order (as real annotations are)."""
    rng = np.random.default_rng(seed + 1)
    lengths = np.array([len(s) for _, s in contigs])
    out: List[Dict] = []
    gene = 0
    while len(out) < n_transcripts:
        gene += 1
        c = int(rng.choice(len(contigs), p=lengths / lengths.sum()))
        name, size = contigs[c][0], int(lengths[c])
        strand = "+" if rng.random() < 0.5 else "-"
        g0 = int(rng.integers(0, size - 70_000))
        for iso in range(int(rng.integers(1, 5))):
            n_ex = int(rng.integers(1, 13))
            exon_len = rng.integers(50, 401, n_ex)
            intron = rng.integers(80, 4001, n_ex)
            pos = g0 + int(rng.integers(0, 500))
            exons = []
            for k in range(n_ex):
                exons.append((pos, pos + int(exon_len[k])))  # 0-based half-open
                pos += int(exon_len[k]) + int(intron[k])
            out.append(
                {
                    "tid": f"TX{len(out) + 1:07d}.1",
                    "gid": f"GENE{gene:06d}.1",
                    "gname": f"G{gene}",
                    "type": "protein_coding" if rng.random() < 0.7 else "lncRNA",
                    "chrom": name,
                    "strand": strand,
                    "exons": exons,
                    "canonical": iso == 0,
                }
            )
            if len(out) == n_transcripts:
                break
    # Real GTF/GFF3 files are sorted by position; keep that (it matters for bgzip block reuse).
    order = {name: i for i, (name, _) in enumerate(contigs)}
    out.sort(key=lambda t: (order[t["chrom"]], t["exons"][0][0]))
    return out


def write_gtf(path: Path, transcripts: List[Dict]) -> None:
    """GENCODE-style GTF: transcript row then exon rows (listed in transcript order)."""
    with open(path, "w") as fh:
        fh.write("##description: synthetic benchmark annotation\n")
        for t in transcripts:
            base = (
                f'gene_id "{t["gid"]}"; transcript_id "{t["tid"]}"; gene_type "{t["type"]}"; '
                f'gene_name "{t["gname"]}"; transcript_type "{t["type"]}";'
            )
            tag = ' tag "basic"; tag "Ensembl_canonical";' if t["canonical"] else ' tag "basic";'
            ex = t["exons"][::-1] if t["strand"] == "-" else t["exons"]
            fh.write(
                f'{t["chrom"]}\tBENCH\ttranscript\t{ex[0][0] + 1 if t["strand"] == "+" else ex[-1][0] + 1}\t'
                f'{ex[-1][1] if t["strand"] == "+" else ex[0][1]}\t.\t{t["strand"]}\t.\t{base}{tag}\n'
            )
            for k, (s, e) in enumerate(ex, 1):
                fh.write(
                    f'{t["chrom"]}\tBENCH\texon\t{s + 1}\t{e}\t.\t{t["strand"]}\t.\t{base} exon_number {k};{tag}\n'
                )


def bgzip(src: Path, dst: Path) -> None:
    """BGZF-compress with pysam (C) when installed, else Biopython's Bio.bgzf."""
    try:
        import pysam

        pysam.tabix_compress(str(src), str(dst), force=True)
        return
    except ImportError:
        pass
    from Bio import bgzf

    with open(src, "rb") as fin, bgzf.BgzfWriter(str(dst), "wb") as fout:
        while True:
            chunk = fin.read(1 << 20)
            if not chunk:
                break
            fout.write(chunk)


def generate(workdir: Path, genome_mnt: float, n_transcripts: int, use_bgzip: bool, seed: int) -> Tuple[Path, Path]:
    """Write genome + GTF into workdir (reused when the same parameters were generated)."""
    workdir.mkdir(parents=True, exist_ok=True)
    tag = f"g{genome_mnt:g}_t{n_transcripts}_s{seed}"
    fasta = workdir / f"genome_{tag}.fa"
    gtf = workdir / f"annotation_{tag}.gtf"
    target = fasta.with_suffix(".fa.gz") if use_bgzip else fasta
    if target.exists() and gtf.exists():
        return target, gtf
    t0 = time.perf_counter()
    if not (fasta.exists() and gtf.exists()):
        contigs = make_genome(int(genome_mnt * 1e6), n_contigs=8, seed=seed)
        write_fasta(fasta, contigs)
        write_gtf(gtf, make_transcripts(contigs, n_transcripts, seed))
    if use_bgzip:
        bgzip(fasta, target)
    log.info("generated %s and %s in %.1f s", target, gtf, time.perf_counter() - t0)
    return target, gtf


def _peak_rss_mb() -> float:
    """Peak RSS of this process. VmHWM (Linux) rather than ru_maxrss, which a child process
    inherits from the parent that generated the data."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(genome: Path, gtf: Path, mode: str, backend: str = "auto", model: Optional[Path] = None) -> Dict:
    """Run one measured phase in this (fresh) process and return its figures."""
    from rnaloc_infer.alphabet import encode
    from rnaloc_infer.genome.annotation import read_annotation
    from rnaloc_infer.genome.index import IndexedGenome
    from rnaloc_infer.genome.transcripts import iter_transcript_sequences

    rss0 = _peak_rss_mb()
    if mode == "e2e":  # parse + extract + model, all inside AnnotatedSource
        if model is None:
            raise ImportError("no model exported (needs the [train] extra)")
        result = _end_to_end(genome, gtf, model)
        result["e2e_tx_per_s"] = round(result["e2e_predictions"] / result["e2e_s"])
        result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
        return result
    t0 = time.perf_counter()
    transcripts = read_annotation(gtf)
    t_parse = time.perf_counter() - t0
    result: Dict = {
        "transcripts": len(transcripts),
        "parse_s": round(t_parse, 3),
        "parse_tx_per_s": round(len(transcripts) / t_parse),
        "rss_before_mb": round(rss0, 1),
    }
    if mode == "parse":
        result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
        return result
    t_open = time.perf_counter()
    with IndexedGenome(genome, backend=backend) as g:  # builds .fai (and .gzi) the first time
        t1 = time.perf_counter()
        result["open_index_s"] = round(t1 - t_open, 3)
        n_nt = 0
        for rec in iter_transcript_sequences(g, transcripts):
            n_nt += len(encode(rec.sequence))
        t_run = time.perf_counter() - t1
        result.update({"backend": g.backend, "extract_nt": n_nt})
    result["extract_s"] = round(t_run, 3)
    result["extract_tx_per_s"] = round(len(transcripts) / t_run)
    result["extract_mnt_per_s"] = round(n_nt / t_run / 1e6, 2)
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return result


def export_tiny_model(path: Path) -> None:
    """The benchmark's model: QRNN hidden=8, 1 layer (needs the [train] extra: torch, onnx)."""
    from rnaloc_infer.export.onnx_export import export_onnx
    from rnaloc_infer.training.models import LocalizationModel, ModelConfig

    export_onnx(LocalizationModel(ModelConfig(kind="qrnn", hidden=8, layers=1, stride=8)), path)


def _end_to_end(genome_path: Path, gtf: Path, model_path: Path) -> Dict:
    """Annotation -> genome -> model via batching.predict_stream (runtime only, no torch here)."""
    from rnaloc_infer.api import Predictor
    from rnaloc_infer.batching import predict_stream
    from rnaloc_infer.genome.transcripts import AnnotatedSource

    predictor = Predictor(model_path, device="cpu", threads=1)
    t0 = time.perf_counter()
    with AnnotatedSource(genome_path, gtf) as source:
        n = sum(1 for _ in predict_stream(source, predictor.session, predictor.config))
    return {"e2e_predictions": n, "e2e_s": round(time.perf_counter() - t0, 3), "threads": 1}


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genome-mnt", type=float, default=100.0, help="genome size in Mnt (default 100)")
    ap.add_argument("--transcripts", type=int, default=50_000)
    ap.add_argument("--bgzip", action="store_true", help="also measure a bgzip-compressed genome")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/rnaloc_genome_bench"))
    ap.add_argument("--modes", default="parse,extract,e2e")
    ap.add_argument("--backends", default="auto", help="genome backends for 'extract', e.g. pyfaidx,pysam")
    ap.add_argument("--measure", nargs=4, metavar=("GENOME", "GTF", "MODE", "BACKEND"), help=argparse.SUPPRESS)
    ap.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--export-tiny", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.export_tiny:
        export_tiny_model(args.export_tiny)
        return 0
    if args.measure:
        genome, gtf, mode, backend = args.measure
        try:
            res = measure(Path(genome), Path(gtf), mode, backend, args.model)
        except ImportError as exc:
            res = {"skipped": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(res))
        return 0

    genomes = [generate(args.workdir, args.genome_mnt, args.transcripts, False, args.seed)]
    if args.bgzip:
        genomes.append(generate(args.workdir, args.genome_mnt, args.transcripts, True, args.seed))
    model = args.workdir / "tiny_qrnn.onnx"
    if "e2e" in args.modes and not model.exists():
        # In its own process: torch must not inflate the measured peak RSS.
        done = subprocess.run([sys.executable, __file__, "--export-tiny", str(model)], capture_output=True, text=True)
        if done.returncode != 0:
            log.warning("could not export the tiny model (e2e skipped): %s", done.stderr.strip().splitlines()[-1:])
    report = []
    for genome, gtf in genomes:
        size_mb = os.path.getsize(genome) / 1e6
        for mode in args.modes.split(","):
            if mode in ("parse", "e2e") and genome != genomes[0][0]:
                continue  # parse and e2e once, on the plain genome
            for backend in args.backends.split(",") if mode == "extract" else ["auto"]:
                proc = subprocess.run(
                    [sys.executable, __file__, "--measure", str(genome), str(gtf), mode, backend]
                    + (["--model", str(model)] if model.exists() else []),
                    capture_output=True, text=True, check=True,
                )
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                res.update({"mode": mode, "genome": genome.name, "genome_file_mb": round(size_mb, 1)})
                report.append(res)
                log.info("%s", json.dumps(res))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
