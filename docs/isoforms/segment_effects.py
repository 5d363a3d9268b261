"""Split an isoform pair's in-silico mutagenesis by the isoform report's segments.

For one gene of an ``--isoforms`` report and the ``rnaloc-explain`` directories of its two
isoforms (run with the same genome and annotation), sums each class's per-nucleotide ISM
change (the mean over the three substitutions, as the ``<class>.mean.bedgraph`` files)
over the transcript positions inside the segments this isoform has and the other lacks
(``own_only``: the report's ``a_only_exons`` / ``b_only_exons``) and over the rest
(``shared``). A positive sum: mutations there raise the probability, i.e. the sequence
there holds it down ("opposes", as regions.tsv says); negative: it holds it up ("supports").

    python docs/isoforms/segment_effects.py REPORT.tsv GENE_ID ANNOTATION.gtf EXPLAIN_DIR OUT.tsv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from rnaloc_infer.genome.annotation import read_annotation
from rnaloc_infer.genome.isoforms import parse_segments


def transcript_positions(exons_5to3, strand: str, segments) -> np.ndarray:
    """The 0-based transcript positions whose genomic base lies in one of ``segments``."""
    positions, offset = [], 0
    for start, end in exons_5to3:
        for s_chrom, s_start, s_end, _ in segments:
            lo, hi = max(start, s_start), min(end, s_end)
            if lo < hi:  # genomic [lo, hi) -> transcript positions
                if strand == "+":
                    positions.extend(range(offset + lo - start, offset + hi - start))
                else:
                    positions.extend(range(offset + end - hi, offset + end - lo))
        offset += end - start
    return np.array(sorted(positions), dtype=np.int64)


def main(report: str, gene_id: str, annotation: str, explain_dir: str, out: str) -> None:
    with open(report, newline="") as handle:
        row = next(r for r in csv.DictReader(handle, delimiter="\t") if r["gene_id"] == gene_id)
    transcripts = {t.transcript_id: t for t in read_annotation(annotation)}
    lines = [["transcript", "part", "nt", "class", "summed_effect", "mean_per_nt", "probability"]]
    for side, column in (("isoform_a", "a_only_exons"), ("isoform_b", "b_only_exons")):
        t = transcripts[row[side]]
        ism = np.load(Path(explain_dir) / t.transcript_id / "ism.npz")
        mean_change = ism["delta"].sum(axis=1) / 3  # (length, classes): 0 at the reference base
        own = transcript_positions(t.exons_in_transcript_order, t.strand, parse_segments(row[column]))
        shared = np.setdiff1d(np.arange(len(mean_change)), own)
        for part, idx in (("own_only", own), ("shared", shared)):
            for k, name in enumerate(ism["classes"]):
                total = float(mean_change[idx, k].sum()) if len(idx) else 0.0
                lines.append([t.transcript_id, part, str(len(idx)), str(name), f"{total:.4f}",
                              f"{total / len(idx):.6f}" if len(idx) else "NA", f"{float(ism['reference'][k]):.4f}"])
    Path(out).write_text("".join("\t".join(line) + "\n" for line in lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
