"""Indexed random access to a genome FASTA (plain or bgzip) and "is this a genome?" checks.

Why an adapter: the runtime must stay importable without the optional ``[genome]`` extra,
so the backend library is imported only when a genome is opened, and a missing library
becomes one actionable line (``pip install 'rnaloc-infer[genome]'``). Two maintained
backends are supported; ``backend="auto"`` takes the first importable of:

* ``pysam`` (htslib, C; Linux/macOS wheels) -- ~1.4x faster extraction when present;
* ``pyfaidx`` (pure Python, installs everywhere; bgzip genomes read through Biopython's
  Bio.bgzf) -- what the ``[genome]`` extra installs (with biopython).

The ``.fai`` (and for bgzip the ``.gzi``) index next to the genome is checked against the
genome before use and built or rebuilt when it is missing or does not match (rnaloc_infer.
genome.fai: the backends compare dates only, so a re-wrapped genome with an old, newer-dated
index was read at the old offsets); in a folder that cannot be written, a missing or stale
index is refused with the command line that fixes it. Coordinates here are 0-based, half-open.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from . import fai as _fai

log = logging.getLogger(__name__)

PathLike = Union[str, Path]

INSTALL_HINT = "pip install 'rnaloc-infer[genome]'"

#: A record at least this long is a chromosome/contig, not a transcript (longest human
#: transcript, TTN, is ~0.1 Mnt).
GENOME_RECORD_MIN_LENGTH = 5_000_000

_CHROM_ID = re.compile(
    r"^(chr[0-9]{1,2}[A-Za-z]?|chr[XYMWZ]|chrUn_\S+|chrM[T]?|[0-9]{1,2}|X|Y|MT|"
    r"NC_0[0-9]{5}\.[0-9]+|CM[0-9]{6}\.[0-9]+)$"
)
_CHROM_DESC = re.compile(r"\bdna(_sm|_rm)?:(chromosome|primary_assembly|scaffold)\b", re.I)
#: A chromosome-like name only counts with at least this length (keeps '>1' test records quiet).
_NAMED_MIN_LENGTH = 200_000


class GenomeError(RuntimeError):
    """The genome cannot serve a request (missing contig, interval past its end, bad file)."""


class MissingGenomeDependency(ImportError):
    """The optional ``[genome]`` extra is not installed."""


_COMPLEMENT = str.maketrans(
    "ACGTUNRYKMSWBDHVacgtunrykmswbdhv-.",
    "TGCAANYRMKSWVHDBtgcaanyrmkswvhdb-.",
)


def reverse_complement(seq: str) -> str:
    """IUPAC-aware reverse complement (U->A; R<->Y, K<->M, B<->V, D<->H; S, W, N fixed); case kept."""
    return seq.translate(_COMPLEMENT)[::-1]


def _is_gzip(path: PathLike) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _is_bgzf(path: PathLike) -> bool:
    # BGZF = gzip member with FEXTRA and a 'BC' subfield (SAM spec section 4.1).
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) >= 16 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


class IndexedGenome:
    """A genome FASTA opened for random access: ``fetch(chrom, start, end) -> str``.

    Use as a context manager. ``backend`` is "auto", "pyfaidx" or "pysam"; ``window`` is
    the read-ahead size in nt (0 disables it; see ``fetch``).
    Plain gzip (not bgzip) cannot be indexed and is refused with the command that fixes it.
    """

    def __init__(self, path: PathLike, backend: str = "auto", window: int = 1 << 20) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise GenomeError(f"genome FASTA not found: {self.path}")
        if _is_gzip(self.path) and not _is_bgzf(self.path):
            raise GenomeError(
                f"{self.path} is gzip- but not bgzip-compressed, so it cannot be indexed; "
                f"recompress it with: zcat {self.path} | bgzip > {self.path.with_suffix('')}.bgz.fa.gz"
                " (or decompress it)"
            )
        self.backend = _pick_backend(backend)
        ensure_index(self.path, self.backend)
        self._handle = _open(self.path, self.backend)
        self.lengths: Dict[str, int] = _contig_lengths(self.backend, self._handle)
        self.window = window
        self._win: Tuple[str, int, str] = ("", 0, "")  # chrom, start, sequence
        self._misses = 0

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of ``chrom[start:end]`` (0-based, half-open), as stored (case kept).

        Requests are served from a read-ahead window of ``window`` nt when they fall in it.
        Annotations are sorted by position, so consecutive transcripts mostly do: with a
        bgzip genome each compressed block is then inflated about once instead of once per
        transcript. After a run of misses (an unsorted annotation) the window is only
        retried every 32nd request, so random access does not read ``window`` nt each time.
        """
        size = self.lengths.get(chrom)
        if size is None:
            raise GenomeError(f"contig {chrom!r} not in genome {self.path}")
        if start < 0 or end > size or start > end:
            raise GenomeError(f"interval {chrom}:{start + 1}-{end} outside contig of length {size}")
        wchrom, wstart, wseq = self._win
        if chrom == wchrom and wstart <= start and end <= wstart + len(wseq):
            self._misses = 0
            return wseq[start - wstart:end - wstart]
        self._misses += 1
        if self.window <= end - start or (self._misses > 4 and self._misses % 32):
            return self._read(chrom, start, end)
        wend = min(size, start + self.window)
        self._win = (chrom, start, self._read(chrom, start, wend))
        return self._win[2][:end - start]

    def _read(self, chrom: str, start: int, end: int) -> str:
        if self.backend == "pysam":
            return self._handle.fetch(chrom, start, end)
        return self._handle[chrom][start:end]

    def suggest_contig(self, chrom: str) -> Optional[str]:
        """A contig name that differs only by the UCSC 'chr' prefix (chr1 vs 1, chrM vs MT)."""
        candidates = [chrom[3:], "chr" + chrom]
        if chrom in ("chrM", "MT", "M"):
            candidates += ["MT", "chrM"]
        return next((c for c in candidates if c in self.lengths), None)

    def close(self) -> None:
        handle, self._handle = self._handle, None
        self._win = ("", 0, "")
        if handle is not None:
            handle.close()

    def __enter__(self) -> "IndexedGenome":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pick_backend(backend: str) -> str:
    """The first importable of the requested backends (pysam before pyfaidx for "auto")."""
    order = ("pysam", "pyfaidx") if backend == "auto" else (backend,)
    errors = []
    for name in order:
        if name not in ("pysam", "pyfaidx"):
            raise ValueError(f"unknown genome backend {name!r} (expected auto, pyfaidx or pysam)")
        try:
            __import__(name)
            return name
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise MissingGenomeDependency(
        f"reading a genome needs the optional [genome] dependencies: {INSTALL_HINT} "
        f"({'; '.join(errors)})"
    )


def _fix_hint(path: Path) -> str:
    """The command lines that give a genome in a read-only folder a usable index."""
    return (f"run `samtools faidx {path}` as a user who can write to {path.parent or '.'}, or link the genome into "
            f"a writable folder (`ln -s {path.resolve()} DIR/`) and give DIR/{path.name} instead")


def ensure_index(path: Path, backend: str) -> None:
    """Make sure the index beside ``path`` matches it: build it when missing, rebuild it when
    stale (temporary file + rename), or raise GenomeError with the fix when its folder is
    read-only. Called before the backend opens the genome, so no backend ever writes the
    index itself or reads a stale one."""
    bgzf = _is_bgzf(path)
    if bgzf and backend == "pyfaidx":
        import Bio.bgzf  # noqa: F401  (pyfaidx reads BGZF through Biopython)
    problem = _fai.index_problem(path, bgzf)
    if problem is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    missing = not _fai.fai_path(path).exists()
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GenomeError(f"genome {path}: {problem}, and its folder is not writable, so the index cannot be "
                          f"{'built' if missing else 'rebuilt'}; {_fix_hint(path)}")
    if missing:
        log.info("indexing genome %s (once; the index is kept beside it)", path)
    else:
        log.warning("genome %s: %s; rebuilding the index", path, problem)
    try:
        _fai.build_index(path, backend, bgzf)
    except ValueError as exc:
        raise GenomeError(f"cannot index genome {path}: {exc}") from None
    except OSError as exc:  # OutputError included: the index cannot be written after all
        raise GenomeError(f"cannot index genome {path}: {exc}; {_fix_hint(path)}") from None
    problem = _fai.index_problem(path, bgzf)
    if problem is not None:
        raise GenomeError(f"cannot index genome {path}: the index built does not match it ({problem})")


def _open(path: Path, backend: str) -> object:
    return _open_pysam(path) if backend == "pysam" else _open_pyfaidx(path)


def _open_pyfaidx(path: Path) -> object:
    import pyfaidx

    try:
        with warnings.catch_warnings():
            # the index was checked against the genome (ensure_index): a date older than the
            # genome's is no reason to rebuild, and rebuild=False keeps pyfaidx from writing
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyfaidx.Fasta(
                str(path), as_raw=True, sequence_always_upper=False, build_index=False, rebuild=False,
                read_long_names=False,
            )
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, pyfaidx.IndexNotFoundError,
            OSError, ValueError) as exc:
        raise GenomeError(f"cannot read genome {path}: {_first_line(exc)}") from exc


def _open_pysam(path: Path) -> object:
    import pysam

    try:
        return pysam.FastaFile(str(path))
    except (OSError, ValueError) as exc:
        raise GenomeError(f"cannot read genome {path}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _contig_lengths(backend: str, handle: object) -> Dict[str, int]:
    if backend == "pysam":
        return dict(zip(handle.references, handle.lengths))  # type: ignore[attr-defined]
    return {name: len(rec) for name, rec in handle.records.items()}  # type: ignore[attr-defined]


def genome_record_reason(record_id: str, length: int, description: str = "") -> Optional[str]:
    """Why a FASTA record looks like a chromosome rather than a transcript, or None.

    Cheap enough for the runtime to call on every record it streams (no I/O).
    """
    if length >= GENOME_RECORD_MIN_LENGTH:
        return f"record {record_id!r} is {length:,} nt long"
    if _CHROM_DESC.search(description):
        return f"record {record_id!r} is described as {_CHROM_DESC.search(description).group(0)!r}"
    if length >= _NAMED_MIN_LENGTH and _CHROM_ID.match(record_id):
        return f"record {record_id!r} is named like a chromosome and is {length:,} nt long"
    return None


def looks_like_genome(path: PathLike, peek_bytes: int = 8 << 20, peek_records: int = 32) -> Optional[str]:
    """Why the FASTA at ``path`` looks like a genome, or None if it looks like transcripts.

    Reads the ``.fai`` index when one exists (free), else only the first ``peek_bytes``
    of the (possibly compressed) file, and no further than ``peek_records`` whole records:
    enough to see a chromosome-length first record. (The record limit keeps this serial
    peek short on transcript files: 8 MB of them took ~0.3 s, 5 % of a validation-set run.)
    """
    fai = Path(str(path) + ".fai")
    if fai.exists():
        with open(fai) as fh:
            for line in fh:
                parts = line.split("\t")
                if len(parts) >= 2 and parts[1].strip().isdigit():
                    reason = genome_record_reason(parts[0], int(parts[1]))
                    if reason:
                        return reason
        return None
    from xopen import xopen

    record_id, description, length, seen, records = None, "", 0, 0, 0
    with xopen(path, "rb", threads=0) as fh:
        for line in fh:
            seen += len(line)
            if line.startswith(b">"):
                if record_id is not None:
                    reason = genome_record_reason(record_id, length, description)
                    if reason:
                        return reason
                    records += 1
                    if records >= peek_records:
                        return None
                head = line[1:].decode("utf-8", "replace").strip()
                record_id, _, description = head.partition(" ")
                length = 0
            else:
                length += len(line.strip())
            if seen >= peek_bytes:
                if record_id is not None and genome_record_reason(record_id, length, description):
                    # A genome: finish counting this record so the warning gives its true length.
                    length += _rest_of_record_length(fh)
                break
    if record_id is not None:
        return genome_record_reason(record_id, length, description)
    return None


def _rest_of_record_length(fh, block: int = 1 << 22) -> int:
    """Sequence letters from the reader's position to the next header (or the end)."""
    count, previous = 0, b"\n"
    while True:
        data = fh.read(block)
        if not data:
            return count
        start = (previous + data).find(b"\n>")
        if start >= 0:
            return count + len(data[:start].translate(None, b" \t\r\n"))
        count += len(data.translate(None, b" \t\r\n"))
        previous = data[-1:]

