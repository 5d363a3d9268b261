"""Build the isoform report's worked example (docs/GENOME.md, "Isoform report: worked example").

There is no real genome or annotation in this repository or in shared/data, and the DM3Loc
set is non-redundant: no gene has two records (checked here and stated in the doc). So the
isoforms are constructed, from real mRNA sequence, in the one way that needs no exon
annotation: **alternative polyadenylation** (a long and a short 3'UTR of the same mRNA).

For each of the first ``--genes`` validation mRNAs (file order) of 2,000-6,000 nt whose
longest ORF is followed by a 3'UTR of at least 1,500 nt:

* ``ID.long`` is the mRNA as deposited; ``ID.short`` ends ``--short-utr`` nt after its stop
  codon (a proximal poly(A) site at a made-up position);
* both have two exons on a pseudo-genome contig ``pseudo``: the first ends in the middle of
  the ORF (a made-up boundary), then an intron of ``--intron`` N, then the rest; genes are
  separated by 1,000 N and every second gene is written reverse-complemented (minus strand);
* so the spliced ``ID.long`` is exactly the validation record and the report's differing
  exon piece is exactly the 3'UTR part the short isoform lacks.

Writes OUT/pseudo.fa (not committed: rebuilt by this script) and OUT/pseudo.gtf.
"""

from __future__ import annotations

import argparse
import csv
import gzip
from pathlib import Path
from typing import Iterator, List, Tuple

from rnaloc_infer.alphabet import encode
from rnaloc_infer.features.coding import longest_orf
from rnaloc_infer.genome.index import reverse_complement

SPACER = 1_000


def read_fasta(path: Path) -> Iterator[Tuple[str, str]]:
    with gzip.open(path, "rt") as handle:
        name, parts = None, []
        for line in handle:
            if line.startswith(">"):
                if name is not None:
                    yield name, "".join(parts)
                name, parts = line[1:].split()[0], []
            else:
                parts.append(line.strip())
        if name is not None:
            yield name, "".join(parts)


def candidates(fasta: Path, n: int, min_utr: int) -> List[Tuple[str, str, int, int]]:
    """(id, sequence, ORF start, stop codon end) of the first n records that qualify."""
    out = []
    for rid, seq in read_fasta(fasta):
        if not 2_000 <= len(seq) <= 6_000:
            continue
        start, codons = longest_orf(encode(seq))
        stop_end = start + 3 * codons + 3
        if codons and len(seq) - stop_end >= min_utr:
            out.append((rid, seq, start, stop_end))
            if len(out) == n:
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fasta", type=Path, help="dm3loc_valid.fa.gz")
    parser.add_argument("labels", type=Path, help="dm3loc_valid_labels.tsv (gene ids and names)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--genes", type=int, default=12)
    parser.add_argument("--short-utr", type=int, default=300)
    parser.add_argument("--min-utr", type=int, default=1_500)
    parser.add_argument("--intron", type=int, default=500)
    args = parser.parse_args()

    with open(args.labels, newline="") as handle:
        labels = {r["id"]: r for r in csv.DictReader(handle, delimiter="\t")}
    genes = [labels[r["id"]]["gene_id"] for r in labels.values()]
    assert len(genes) == len(set(genes)), "a gene with two records: use them instead of constructed isoforms"

    contig, rows = ["N" * SPACER], []
    for k, (rid, seq, orf_start, stop_end) in enumerate(candidates(args.fasta, args.genes, args.min_utr)):
        cut = orf_start + (stop_end - orf_start) // 2  # exon 1 | exon 2 boundary, in the ORF
        short_end = stop_end + args.short_utr
        strand = "+" if k % 2 == 0 else "-"
        exon1, exon2 = seq[:cut], seq[cut:]
        offset = sum(len(part) for part in contig)
        if strand == "+":
            contig += [exon1, "N" * args.intron, exon2]
            e1 = (offset, offset + cut)
            e2_start = offset + cut + args.intron
            long_exons = [e1, (e2_start, e2_start + len(exon2))]
            short_exons = [e1, (e2_start, e2_start + short_end - cut)]
        else:  # the mRNA reads 3'->5' along the contig: reverse complement, exon 2 first
            contig += [reverse_complement(exon2), "N" * args.intron, reverse_complement(exon1)]
            e2_end = offset + len(exon2)
            e1 = (e2_end + args.intron, e2_end + args.intron + cut)
            long_exons = [(offset, e2_end), e1]
            short_exons = [(e2_end - (short_end - cut), e2_end), e1]
        contig.append("N" * SPACER)
        gene = labels[rid]
        for suffix, exons in (("long", long_exons), ("short", short_exons)):
            attrs = (f'gene_id "{gene["gene_id"]}"; transcript_id "{rid}.{suffix}"; gene_name "{gene["gene_name"]}"; '
                     f'transcript_type "protein_coding";')
            rows += [f"pseudo\tmake_example\texon\t{s + 1}\t{e}\t.\t{strand}\t.\t{attrs}" for s, e in exons]
    args.out.mkdir(parents=True, exist_ok=True)
    sequence = "".join(contig)
    (args.out / "pseudo.fa").write_text(">pseudo\n" + "\n".join(sequence[i:i + 60] for i in range(0, len(sequence), 60)) + "\n")
    (args.out / "pseudo.gtf").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
