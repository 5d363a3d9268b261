"""Read a VCF with pysam, annotate it with localisation deltas, write VCF / bgzipped VCF / TSV.

The VCF side is pysam's (htslib's) on purpose: VCF has enough corner cases (header
meta-data, escaping, multi-allelic records, BCF-style typing) that a hand-written parser
would mangle someone's file. Every input record is written, in order, with its other
INFO fields untouched; the header gains one ``##INFO=<ID=RNALOC,...>`` line.

Entry format (one per ALT allele x overlapping transcript, SpliceAI-style)::

    ALLELE|GENE|TRANSCRIPT|D_<class1>|...|D_<classN>|FLAGS

D = p(alt transcript) - p(reference transcript) for each class of the model, 4 decimals.
FLAGS: the applicability codes of the two transcripts joined with ``&`` (a comma would
split the INFO value), ``ok`` when in range, ``-`` for a model without rules.
"""

from __future__ import annotations

import io
import logging
import os
import re
from typing import IO, Iterator, List, Optional, Sequence, Tuple, Union

from ..applicability import OK, UNCHECKED
from ..errors import InputError, RnalocError, UsageProblem
from ..output.files import atomic_output, atomic_path
from .scoring import Annotated, Variant

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
INFO_ID = "RNALOC"
#: Output formats by file-name ending (checked longest first).
OUTPUT_KINDS = ((".vcf.gz", "vcf.gz"), (".vcf.bgz", "vcf.gz"), (".vcf", "vcf"), (".tsv", "tsv"))
_UNSAFE = re.compile(r"[|,;=\s&]")


def require_pysam():
    """pysam, or a one-line error that names the extra."""
    try:
        import pysam
    except ImportError:
        raise RnalocError("rnaloc-variants needs pysam: pip install 'rnaloc-infer[variants]'") from None
    return pysam


def output_kind(path: PathLike) -> str:
    """``vcf``, ``vcf.gz`` or ``tsv`` from OUT's name; a usage error for anything else."""
    name = os.fspath(path).lower()
    for ending, kind in OUTPUT_KINDS:
        if name.endswith(ending):
            return kind
    raise UsageProblem(f"cannot tell the output format of {os.fspath(path)}: its name must end in .vcf, .vcf.gz or .tsv")


def output_files(path: PathLike) -> List[Tuple[str, str]]:
    """Every file a run writes (for the overwrite checks): OUT and, for .vcf.gz, its tabix index."""
    files = [("output", os.fspath(path))]
    if output_kind(path) == "vcf.gz":
        files.append(("output index", os.fspath(path) + ".tbi"))
    return files


#: Where the docs say how large a D is (percentiles over every SNV of 100 mRNAs).
READING_A_D = "docs/VARIANTS.md#reading-a-d"


def info_description(classes: Sequence[str]) -> str:
    """The ``##INFO=<ID=RNALOC>`` Description. It ends with the entry format, as SpliceAI's
    does: tools read the fields from the text after ``Format:``, so the pointer to the
    percentiles of D (how to read one) comes before it."""
    columns = "|".join(["ALLELE", "GENE", "TRANSCRIPT"] + [f"D_{c}" for c in classes] + ["FLAGS"])
    return ("rnaloc-infer variant effect on localisation: per ALT allele and overlapping transcript, "
            "p(alt transcript) - p(reference transcript) per class (how large a D is, percentiles over "
            f"all SNVs of 100 mRNAs: {READING_A_D}). Format: {columns}")


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text) or "."


def flags_field(flags: Optional[Tuple[str, ...]]) -> str:
    if flags is None:
        return UNCHECKED
    return "&".join(flags) or OK


def _number(d: float) -> str:
    text = f"{d:.4f}"
    return "0.0000" if text == "-0.0000" else text


def entry_fields(a: Annotated) -> Iterator[List[str]]:
    """Each entry as its fields: allele, gene, transcript, the deltas, flags."""
    for e in a.entries:
        t = e.transcript
        yield ([_safe(e.allele), _safe(t.gene_name or t.gene_id), _safe(t.transcript_id)]
               + [_number(float(d)) for d in e.delta] + [flags_field(e.flags)])


class VcfInput:
    """The input VCF opened with pysam; iterating yields (Variant, pysam record) pairs."""

    def __init__(self, path: PathLike) -> None:
        pysam = require_pysam()
        self.path = os.fspath(path)
        try:
            self.handle = pysam.VariantFile(self.path)
        except (OSError, ValueError) as exc:
            raise InputError(self.path, f"cannot read as VCF: {_first_line(exc)}") from None
        if self.handle.format not in ("VCF", "BCF"):
            self.handle.close()
            raise InputError(self.path, f"not a VCF file (htslib reads it as {self.handle.format})")

    @property
    def header(self):
        return self.handle.header

    def __iter__(self) -> Iterator[Tuple[Variant, object]]:
        number = 0
        records = iter(self.handle)
        while True:
            try:
                rec = next(records)
            except StopIteration:
                return
            except (OSError, ValueError) as exc:
                raise InputError(self.path, f"cannot read record #{number + 1}: {_first_line(exc)}") from None
            number += 1
            alts = tuple(rec.alts or ())
            label = rec.id if rec.id and rec.id != "." else f"{rec.chrom}:{rec.pos}:{rec.ref}>{','.join(alts) or '.'}"
            yield Variant(rec.chrom, rec.pos, rec.ref or "", alts, label[:80], number), rec

    def close(self) -> None:
        self.handle.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def write_vcf(source: VcfInput, annotated: Iterator[Annotated], out: PathLike, classes: Sequence[str]) -> int:
    """Write every record with RNALOC added (``.vcf`` plain, ``.vcf.gz`` bgzip + tabix index),
    atomically: OUT (and OUT.tbi) appear only when complete. Returns the records written.

    Records are written as pysam formats them (``str(record)``), not with
    ``VariantFile.write``: that one "syncs" END, adding ``END=`` (and its header line) to
    every symbolic allele, and the input's records must come out as they went in."""
    pysam = require_pysam()
    header = source.header.copy()
    if INFO_ID in header.info:
        log.warning("%s already has INFO %s: replaced by this run's", source.path, INFO_ID)
        header.info.remove_header(INFO_ID)
    header.add_meta("INFO", items=[("ID", INFO_ID), ("Number", "."), ("Type", "String"),
                                   ("Description", info_description(classes))])
    if output_kind(out) == "vcf":
        with atomic_output(out) as handle:
            return _write_records(handle, header, annotated)
    from pysam.libcbgzf import BGZFile

    with atomic_path(out) as tmp:
        with BGZFile(str(tmp), "wb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle:  # type: ignore[arg-type]
            written = _write_records(handle, header, annotated)
        with atomic_path(os.fspath(out) + ".tbi") as tmp_index:
            try:
                pysam.tabix_index(str(tmp), preset="vcf", index=str(tmp_index), force=True)
            except (OSError, ValueError):
                raise InputError(source.path, f"cannot tabix-index {os.fspath(out)}: the VCF must be sorted by "
                                              "position for .vcf.gz (bcftools sort), or write .vcf") from None
    return written


def _write_records(handle: IO[str], header, annotated: Iterator[Annotated]) -> int:
    handle.write(str(header))
    written = 0
    for a in annotated:
        rec = a.payload
        rec.translate(header)  # type: ignore[attr-defined]
        entries = ["|".join(f) for f in entry_fields(a)]
        if entries:
            rec.info[INFO_ID] = entries  # type: ignore[attr-defined]
        elif INFO_ID in rec.info:  # type: ignore[attr-defined]
            del rec.info[INFO_ID]  # type: ignore[attr-defined]
        handle.write(str(rec))
        written += 1
    return written


TSV_FIXED = ("chrom", "pos", "id", "ref", "allele", "gene", "transcript", "strand")


def write_tsv(annotated: Iterator[Annotated], out: PathLike, classes: Sequence[str]) -> int:
    """One row per entry, and one per allele left out (empty deltas, ``note`` says why), so every
    record of the VCF appears. Returns the records written."""
    written = 0
    with atomic_output(out) as handle:
        handle.write("\t".join(TSV_FIXED + tuple(f"D_{c}" for c in classes) + ("flags", "note")) + "\n")
        for a in annotated:
            _tsv_rows(handle, a, len(classes))
            written += 1
    return written


def _tsv_rows(handle: IO[str], a: Annotated, n_classes: int) -> None:
    v = a.variant
    rec_id = getattr(a.payload, "id", None) or "."
    fixed = [v.chrom, str(v.pos), rec_id, v.ref]
    for e, fields in zip(a.entries, entry_fields(a)):
        handle.write("\t".join(fixed + [e.allele, fields[1], fields[2], e.transcript.strand] + fields[3:] + [""]) + "\n")
    done = {e.allele for e in a.entries}
    for allele, reason in a.left_out:
        if allele not in done:
            handle.write("\t".join(fixed + [allele, "", "", ""] + [""] * n_classes + ["", reason]) + "\n")
            done.add(allele)


def write(source: VcfInput, annotated: Iterator[Annotated], out: PathLike, classes: Sequence[str]) -> int:
    """Write in the format OUT's name asks for."""
    if output_kind(out) == "tsv":
        return write_tsv(annotated, out, classes)
    return write_vcf(source, annotated, out, classes)


__all__ = ["VcfInput", "output_kind", "output_files", "write", "info_description"]
