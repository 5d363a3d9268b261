"""Gene annotation (GTF or GFF3, plain or gzip) -> one exon model per transcript.

Why a small parser of our own instead of gtfparse/gffutils: we need only exon coordinates
plus four labels per transcript, and we must stream a GENCODE-sized file without pulling
in a data-frame library (gtfparse needs polars) or building an SQLite database (gffutils).
Measured on the synthetic 50,000-transcript GTF of ``benchmarks/genome_scale.py``, see
docs/GENOME.md for the figures. Lines are split with ``str.split('\\t')`` (the csv module
adds nothing for GTF: there is no quoting of the tab-separated columns, and its default
quote handling would mangle GTF's ``key "value";`` attributes).

Only ``exon`` rows carry sequence; transcript-level rows (GTF ``transcript``; GFF3 the
exon's ``Parent``) supply the labels. CDS/UTR/codon rows are skipped before their
attributes are parsed, which is most of the work saved on real annotations.

Coordinates are stored 0-based, half-open, sorted by genomic start, as a flat
``array('q')`` ``[start0, end0, start1, end1, ...]``: the whole human annotation
(~250k transcripts, ~1.6M exons) then costs tens of MB, not hundreds.
"""

from __future__ import annotations

import logging
import re
import sys
from array import array
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union
from urllib.parse import unquote

from xopen import xopen

log = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: Columns this module adds per transcript (in this order) for the writers.
ANNOTATION_FIELDS = ("transcript_id", "gene_id", "gene_name", "transcript_type")

# GFF3/GTF feature types that never are a transcript or gene: skipped unparsed.
_SUBFEATURES = frozenset(
    {
        "CDS", "cds", "five_prime_UTR", "three_prime_UTR", "UTR", "five_prime_utr",
        "three_prime_utr", "start_codon", "stop_codon", "Selenocysteine",
        "stop_codon_redefined_as_selenocysteine", "intron", "polyA_site", "polyA_signal",
        "transcription_start_site", "TSS",
    }
)

# When an annotation gives no biotype attribute (RefSeq GFF3 mRNA rows; RefSeq GTF says
# transcript_biotype "mRNA"), map the sequence-ontology feature type to the GENCODE/Ensembl
# biotype name so that one --transcript-type vocabulary works for all three conventions.
_SO_TO_BIOTYPE = {
    "mRNA": "protein_coding",
    "lnc_RNA": "lncRNA",
    "lncRNA": "lncRNA",
    "lincRNA": "lncRNA",
    "antisense_RNA": "lncRNA",
}

_ID_PREFIXES = ("transcript:", "gene:", "rna-", "gene-")

_GTF_ATTR = re.compile(r'\s*([^\s;"]+)\s+(?:"([^"]*)"|([^;]*?))\s*(?:;|$)')


class AnnotationError(ValueError):
    """A malformed annotation; the message names the file and line number."""


class Transcript(NamedTuple):
    """One transcript's exon model and labels (immutable, compact)."""

    transcript_id: str
    gene_id: str
    gene_name: str
    transcript_type: str
    chrom: str
    strand: str  # "+" or "-"
    coords: array  # flat [start0, end0, ...], 0-based half-open, ascending genomic order
    tags: frozenset

    @property
    def exons(self) -> List[Tuple[int, int]]:
        """Exons as (start, end), 0-based half-open, in ascending genomic order."""
        c = self.coords
        return [(c[i], c[i + 1]) for i in range(0, len(c), 2)]

    @property
    def exons_in_transcript_order(self) -> List[Tuple[int, int]]:
        """Exons 5'->3' of the RNA: descending genomic order on the minus strand."""
        exons = self.exons
        return exons[::-1] if self.strand == "-" else exons

    @property
    def length(self) -> int:
        """Spliced length (sum of exon lengths)."""
        c = self.coords
        return sum(c[i + 1] - c[i] for i in range(0, len(c), 2))

    @property
    def start(self) -> int:
        return self.coords[0]

    @property
    def end(self) -> int:
        return self.coords[-1]

    def fields(self) -> Dict[str, str]:
        """The per-transcript output columns (see ANNOTATION_FIELDS)."""
        return {
            "transcript_id": self.transcript_id,
            "gene_id": self.gene_id,
            "gene_name": self.gene_name,
            "transcript_type": self.transcript_type,
        }


class _Builder:
    """Mutable accumulator for one transcript while the file is read."""

    __slots__ = ("tid", "chrom", "strand", "coords", "attrs", "line", "bad")

    def __init__(self, tid: str, chrom: str, strand: str, line: int) -> None:
        self.tid = tid
        self.chrom = chrom
        self.strand = strand
        self.coords = array("q")  # 8 bytes per coordinate while reading, not ~36
        self.attrs: Optional[Dict[str, object]] = None
        self.line = line
        self.bad: Optional[str] = None

    def add_exon(self, start: int, end: int, strand: str) -> None:
        if strand != self.strand:
            self.bad = "exons on both strands"
        self.coords.append(start)
        self.coords.append(end)


def _builder(builders: Dict[Tuple[str, str], _Builder], tid: str, chrom: str, strand: str, line: int) -> _Builder:
    """The accumulator of transcript ``tid`` on ``chrom``, created at its first row."""
    b = builders.get((tid, chrom))
    if b is None:
        b = builders[(tid, chrom)] = _Builder(tid, chrom, strand, line)
    return b


def detect_format(path: PathLike) -> str:
    """Return ``"gtf"`` or ``"gff3"`` from the file name, else from the first data line."""
    name = str(path).lower()
    for suffix in (".gz", ".bgz", ".bgzf"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".gtf"):
        return "gtf"
    if name.endswith((".gff3", ".gff")):
        return "gff3"
    with xopen(path, "rt", threads=0) as fh:
        for line in fh:
            if line.startswith("##gff-version 3"):
                return "gff3"
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) == 9 and '"' not in cols[8] and "=" in cols[8]:
                return "gff3"
            return "gtf"
    return "gtf"


def read_annotation(path: PathLike, fmt: Optional[str] = None) -> List[Transcript]:
    """Parse a GTF or GFF3 file into transcripts, in order of first appearance.

    ``fmt`` is ``"gtf"``, ``"gff3"`` or None (detect). Raises AnnotationError naming the
    file and line for malformed rows. Transcripts with inconsistent exons (different
    strands, overlapping exons) are skipped with a warning rather than stopping a
    genome-scale run.
    """
    fmt = (fmt or detect_format(path)).lower()
    if fmt in ("gff", "gff3"):
        builders = _parse_gff3(path)
    elif fmt == "gtf":
        builders = _parse_gtf(path)
    else:
        raise ValueError(f"unknown annotation format {fmt!r} (expected 'gtf' or 'gff3')")
    transcripts = _finish(builders, path)
    log.info("read %d transcripts from %s", len(transcripts), path)
    return transcripts


def iter_rows(path: PathLike) -> Iterator[Tuple[int, List[str]]]:
    """Yield (line number, 9 columns) for each data row; stops at a GFF3 ``##FASTA``."""
    with xopen(path, "rt", threads=0) as fh:
        for lineno, line in enumerate(fh, 1):
            if line[:1] == "#" or not line.strip():
                if line.startswith("##FASTA"):
                    return
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) != 9:
                raise AnnotationError(
                    f"{path}:{lineno}: expected 9 tab-separated columns, found {len(cols)}"
                )
            yield lineno, cols


def _interval(path: PathLike, lineno: int, cols: List[str]) -> Tuple[int, int, str]:
    try:
        start, end = int(cols[3]), int(cols[4])
    except ValueError:
        raise AnnotationError(
            f"{path}:{lineno}: start/end must be integers, got {cols[3]!r} and {cols[4]!r}"
        ) from None
    if start < 1 or end < start:
        raise AnnotationError(f"{path}:{lineno}: invalid interval {start}-{end} (1-based, start <= end)")
    strand = cols[6]
    if strand not in ("+", "-"):
        if strand not in (".", "?"):
            raise AnnotationError(f"{path}:{lineno}: strand must be '+', '-' or '.', got {strand!r}")
        strand = "+"
    return start - 1, end, strand


def parse_gtf_attributes(text: str) -> Dict[str, object]:
    """GTF column 9 -> dict; a repeated key (``tag``) becomes a list of values."""
    attrs: Dict[str, object] = {}
    for m in _GTF_ATTR.finditer(text):
        key = m.group(1)
        value = m.group(2) if m.group(2) is not None else m.group(3)
        if key in attrs:
            prev = attrs[key]
            if isinstance(prev, list):
                prev.append(value)
            else:
                attrs[key] = [prev, value]
        else:
            attrs[key] = value
    return attrs


def parse_gff3_attributes(text: str) -> Dict[str, object]:
    """GFF3 column 9 -> dict; comma-separated multi-values become lists; %XX decoded."""
    attrs: Dict[str, object] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"attribute {part.strip()!r} has no '='")
        key = key.strip()
        values = [unquote(v) if "%" in v else v for v in value.split(",")]
        attrs[key] = values if len(values) > 1 or key in ("Parent", "tag", "Dbxref") else values[0]
    return attrs


def _gtf_transcript_id(text: str) -> Optional[str]:
    """Fast path for the one attribute every exon row needs (no full parse)."""
    i = text.find('transcript_id "')
    if i < 0 or (i > 0 and text[i - 1] not in "; \t"):
        return None
    j = text.find('"', i + 15)
    return text[i + 15:j] if j > 0 else None


def _parse_gtf(path: PathLike) -> Dict[Tuple[str, str], _Builder]:
    builders: Dict[Tuple[str, str], _Builder] = {}
    warned_strand = False
    for lineno, cols in iter_rows(path):
        feature = cols[2]
        if feature != "exon" and feature != "transcript":
            continue
        start, end, strand = _interval(path, lineno, cols)
        if cols[6] not in ("+", "-") and not warned_strand:
            log.warning("%s:%d: unstranded feature read as '+' strand", path, lineno)
            warned_strand = True
        tid = _gtf_transcript_id(cols[8])
        attrs = None
        if tid is None:
            attrs = parse_gtf_attributes(cols[8])
            tid = _first(attrs.get("transcript_id"))
            if not tid:
                raise AnnotationError(f"{path}:{lineno}: {feature} row without a transcript_id attribute")
        b = _builder(builders, tid, sys.intern(cols[0]), strand, lineno)
        # Labels come from the transcript row; exon-only GTFs carry them on every exon.
        if feature == "transcript" or b.attrs is None:
            b.attrs = _labels_from_gtf(attrs if attrs is not None else parse_gtf_attributes(cols[8]))
        if feature == "exon":
            b.add_exon(start, end, strand)
    return builders


def _first(value: object) -> str:
    if isinstance(value, list):
        return value[0] if value else ""
    return value if isinstance(value, str) else ""


def _as_list(value: object) -> List[str]:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, str) and value else []


_TAG_SETS: Dict[Tuple[str, ...], frozenset] = {}


def _tags(value: object) -> frozenset:
    """Tag sets repeat (basic, Ensembl_canonical, ...): share one frozenset per combination."""
    key = tuple(_as_list(value))
    tags = _TAG_SETS.get(key)
    if tags is None:
        tags = _TAG_SETS[key] = frozenset(key)
    return tags


def _strip_prefix(identifier: str) -> str:
    for prefix in _ID_PREFIXES:
        if identifier.startswith(prefix):
            return identifier[len(prefix):]
    return identifier


def _biotype(value: str) -> str:
    return _SO_TO_BIOTYPE.get(value, value)


def _labels_from_gtf(attrs: Dict[str, object]) -> Dict[str, object]:
    gene_id = _first(attrs.get("gene_id"))
    gene_name = _first(attrs.get("gene_name")) or _first(attrs.get("gene")) or gene_id
    ttype = (
        _first(attrs.get("transcript_type"))
        or _first(attrs.get("transcript_biotype"))
        or _first(attrs.get("gene_type"))
        or _first(attrs.get("gene_biotype"))
    )
    return _labels(gene_id, gene_name, ttype, attrs.get("tag"))


def _labels(gene_id: str, gene_name: str, transcript_type: str, tags: object) -> Dict[str, object]:
    """A transcript's output columns, GTF or GFF3 alike (biotype names normalised, strings shared)."""
    return {
        "gene_id": gene_id,
        "gene_name": gene_name,
        "transcript_type": sys.intern(_biotype(transcript_type)) if transcript_type else "",
        "tags": _tags(tags),
    }


_GFF_KEEP = (
    "ID", "Parent", "Name", "gene_id", "gene_name", "gene", "transcript_id", "transcript_type",
    "transcript_biotype", "biotype", "gene_type", "gene_biotype", "tag",
)


def _parse_gff3(path: PathLike) -> Dict[Tuple[str, str], _Builder]:
    # Pass over the file once: keep gene/transcript-level features (by ID, only the
    # attributes we need) and accumulate exons under each Parent ID.
    features: Dict[str, Tuple[str, Dict[str, object], int]] = {}
    builders: Dict[Tuple[str, str], _Builder] = {}
    for lineno, cols in iter_rows(path):
        feature = cols[2]
        if feature in _SUBFEATURES:
            continue
        try:
            attrs = parse_gff3_attributes(cols[8])
        except ValueError as exc:
            raise AnnotationError(f"{path}:{lineno}: {exc}") from None
        if feature != "exon":
            fid = attrs.get("ID")
            if isinstance(fid, str) and fid not in features:
                kept = {k: attrs[k] for k in _GFF_KEEP if k in attrs}
                features[fid] = (sys.intern(feature), kept, lineno)
            continue
        start, end, strand = _interval(path, lineno, cols)
        parents = _as_list(attrs.get("Parent"))
        if not parents:
            raise AnnotationError(f"{path}:{lineno}: exon row without a Parent attribute")
        chrom = sys.intern(cols[0])
        for pid in parents:
            _builder(builders, pid, chrom, strand, lineno).add_exon(start, end, strand)
    for b in builders.values():
        parent = features.get(b.tid)
        if parent is None:
            raise AnnotationError(
                f"{path}:{b.line}: exon Parent {b.tid!r} is not defined by any feature's ID"
            )
        ptype, tattrs, _ = parent
        gene_ref = _first(tattrs.get("Parent"))
        gene = features.get(gene_ref) if gene_ref else None
        gattrs = gene[1] if gene else (tattrs if not gene_ref else {})
        gene_id = (
            _first(gattrs.get("gene_id"))
            or _first(tattrs.get("gene_id"))
            or _strip_prefix(gene_ref or b.tid)
        )
        gene_name = (
            _first(tattrs.get("gene_name"))
            or _first(gattrs.get("gene_name"))
            or _first(gattrs.get("Name"))
            or _first(tattrs.get("gene"))
            or gene_id
        )
        ttype = (
            _first(tattrs.get("transcript_type"))
            or _first(tattrs.get("transcript_biotype"))
            or _first(tattrs.get("biotype"))
            or ptype
        )
        tid = _first(tattrs.get("transcript_id")) or _strip_prefix(b.tid)
        b.tid = tid
        b.attrs = _labels(gene_id, gene_name, ttype, tattrs.get("tag"))
    return builders


def _finish(builders: Dict[Tuple[str, str], _Builder], path: PathLike) -> List[Transcript]:
    """Sort and validate exons; disambiguate ids that occur on several contigs (PAR genes)."""
    per_id: Dict[str, int] = {}
    for b in builders.values():
        per_id[b.tid] = per_id.get(b.tid, 0) + 1
    out: List[Transcript] = []
    skipped = 0
    while builders:  # consume (last first, O(1)) so memory is freed as we go; reversed below
        _, b = builders.popitem()
        if not b.coords:
            continue  # a transcript row whose exons were never listed
        c = b.coords
        pairs = sorted(set(zip(c[0::2], c[1::2])))  # set: duplicated exon rows collapse
        for k in range(1, len(pairs)):
            if pairs[k][0] < pairs[k - 1][1]:
                b.bad = b.bad or (
                    f"overlapping exons {pairs[k - 1][0] + 1}-{pairs[k - 1][1]} and {pairs[k][0] + 1}-{pairs[k][1]}"
                )
                break
        if b.bad:
            skipped += 1
            log.warning("%s:%d: skipping transcript %s: %s", path, b.line, b.tid, b.bad)
            continue
        tid = b.tid if per_id[b.tid] == 1 else f"{b.tid}|{b.chrom}"
        attrs = b.attrs or {}
        coords = array("q", [x for pair in pairs for x in pair])
        out.append(
            Transcript(
                transcript_id=tid,
                gene_id=sys.intern(str(attrs.get("gene_id", ""))),
                gene_name=sys.intern(str(attrs.get("gene_name", ""))),
                transcript_type=str(attrs.get("transcript_type", "")),
                chrom=b.chrom,
                strand=b.strand,
                coords=coords,
                tags=attrs.get("tags", frozenset()),  # type: ignore[arg-type]
            )
        )
    out.reverse()  # back to order of first appearance in the file
    dup = sum(1 for n in per_id.values() if n > 1)
    if dup:
        log.warning("%d transcript ids occur on several contigs; their ids get a '|contig' suffix", dup)
    if skipped:
        log.warning("skipped %d inconsistent transcripts in %s", skipped, path)
    return out


def transcripts_by_gene(transcripts: Iterable[Transcript]) -> Dict[str, List[Transcript]]:
    """Group transcripts by gene_id, keeping input order inside each gene."""
    genes: Dict[str, List[Transcript]] = {}
    for t in transcripts:
        genes.setdefault(t.gene_id or t.transcript_id, []).append(t)
    return genes
