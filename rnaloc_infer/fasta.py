"""Streaming FASTA reader: plain or compressed files, several files, standard input.

Why a small parser of our own over ``xopen`` binary streams instead of a library reader.
Measured with ``benchmarks/fasta_readers.py`` (100,000 records of 200-1,000 nt, 60-column
lines, 63 MB; best of 3 on a shared 2-core VM under load, so compare rows, not absolutes;
"encode" = to model codes, ``alphabet.encode`` on the library's str, our bytes fast path):

========================================  ==========  ==============  ====================
reader                                    parse only  parse + encode  gzip, parse + encode
========================================  ==========  ==============  ====================
this module (xopen ``rb``, bytes)         --          41 Mnt/s        28 Mnt/s
dnaio 1.2 ``dnaio.open``                  41 Mnt/s    14 Mnt/s        17 Mnt/s
Bio ``SimpleFastaParser`` + xopen         99 Mnt/s    20 Mnt/s        14 Mnt/s
pyfastx 2.3 ``Fasta(build_index=False)``  236 Mnt/s   16 Mnt/s        16 Mnt/s
========================================  ==========  ==============  ====================

* pyfastx parses fastest but takes paths only: no standard input, no pipes (required).
* What the runtime needs is parse + encode, and there the per-record str -> bytes -> numpy
  conversion dominates; reading bytes and mapping them with two ``bytes.translate`` calls
  per record (validity check, code table) is the fastest path measured.
* dnaio decodes text as UTF-8 and raises a bare ``UnicodeDecodeError`` (no file, no
  record) on a non-UTF-8 header, requires ASCII, and skips ``#`` lines silently.
* Working on bytes also lets us decode headers leniently and name the file and record in
  every error. The model itself runs at well under 1 Mnt/s per CPU core, so reading is
  never the bottleneck.

``xopen`` (the one reading dependency) detects gzip/bgzip/bz2/xz/zstd by content and
reads "-" as standard input; ``threads=0`` keeps decompression in-process so a truncated
archive raises here (``EOFError``) rather than in a helper process.
"""

from __future__ import annotations

import bz2
import contextlib
import logging
import lzma
import os
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, Optional, Union

import numpy as np
from xopen import xopen

from .alphabet import NUCLEOTIDE_LETTERS, count_ambiguous, encode
from .errors import InputError


def _decompression_errors() -> tuple:
    """Exception types that mean "corrupt compressed input". xopen decodes gzip with
    python-isal or zlib-ng when they are installed, whose errors do not derive from zlib.error."""
    errors: list = [EOFError, zlib.error, lzma.LZMAError]
    try:
        from isal.igzip_lib import IsalError

        errors.append(IsalError)
    except ImportError:
        pass
    try:
        from zlib_ng.zlib_ng import error as ZlibNgError

        errors.append(ZlibNgError)
    except ImportError:
        pass
    return tuple(errors)


DECOMPRESSION_ERRORS = _decompression_errors()

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
STDIN = "-"
# Letters that occur in protein but not in nucleotide FASTA: used only for a hint.
_PROTEIN_ONLY = frozenset("EFIJLOPQZXefijlopqzx*")
# Duplicate-id check: remember at most this many ids (bounded memory on huge inputs).
MAX_TRACKED_IDS = 2_000_000
MAX_DUPLICATE_WARNINGS = 10

# Fast path equal to alphabet.encode: one bytes.translate to check the letters and one to
# map them (both C loops), instead of numpy calls per record; encode() itself still runs
# for invalid records to produce its error message. Built from encode() so the two agree.
_VALID = bytes(sorted(ord(c) for c in NUCLEOTIDE_LETTERS))
_TABLE = bytearray(range(256))
for _byte, _code in zip(_VALID, encode(_VALID).tolist()):
    _TABLE[_byte] = _code
_TABLE = bytes(_TABLE)


def encode_bytes(raw: bytes) -> np.ndarray:
    """alphabet.encode for bytes, faster on valid input; raises the same ValueError."""
    if raw.translate(None, _VALID):
        return encode(raw)  # raises, naming the first bad character
    return np.frombuffer(raw.translate(_TABLE), dtype=np.uint8)


@dataclass
class Record:
    """One FASTA record, ready for the model."""

    id: str  # first word of the header
    header: str  # whole header line without '>' (undecodable bytes backslash-escaped)
    codes: np.ndarray  # uint8 codes from alphabet.encode
    source: str  # file name as given ("-" for standard input)
    number: int  # 1-based position of the record in its file
    ambiguous: int = 0  # letters other than A/C/G/T/U/N (applicability: protein-like records)

    @property
    def length(self) -> int:
        return int(self.codes.shape[0])


@dataclass(frozen=True)
class RecordError:
    """A record that cannot be predicted; the rest of the file is still readable."""

    source: str
    number: int
    id: str
    problem: str

    def to_exception(self) -> InputError:
        return InputError(self.source, self.problem, record=self.id or None, number=self.number)

    @property
    def message(self) -> str:
        return str(self.to_exception())


class ReadMeter:
    """How far reading has got, for a progress bar with a total and an ETA.

    ``bytes_read`` counts bytes taken from the files on disk (compressed bytes for a
    compressed file, so it runs up to the files' total size); ``nt_read`` the nucleotides of
    the records handed out so far. Standard input adds nucleotides but no bytes.
    """

    def __init__(self) -> None:
        self._closed_bytes = 0
        self._raw: Optional[BinaryIO] = None
        self._size = 0
        self.nt_read = 0

    @property
    def bytes_read(self) -> int:
        raw = self._raw
        current = 0
        if raw is not None:
            with contextlib.suppress(OSError, ValueError):
                current = raw.tell()
        return self._closed_bytes + current

    def _attach(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._size = os.fstat(raw.fileno()).st_size

    def _close(self) -> None:
        """The file is done: count all of it and close it."""
        if self._raw is not None:
            self._closed_bytes += self._size
            self._raw.close()
            self._raw = None


def _display_name(path: PathLike) -> str:
    text = os.fspath(path)
    return "<stdin>" if text == STDIN else text


def check_readable(path: PathLike) -> None:
    """Raise the one-line InputError for an input that is missing, a directory or unreadable.

    The CLI calls it for every input before loading the model, so a typo in the last of
    several files fails at once rather than after the others were predicted.
    """
    text = os.fspath(path)
    if text == STDIN:
        return
    if os.path.isdir(text):
        raise InputError(text, "is a directory, not a FASTA file")
    if not os.path.exists(text):
        raise InputError(text, "no such file")
    if not os.access(text, os.R_OK):
        raise InputError(text, "permission denied")


def _open(path: PathLike, meter: Optional[ReadMeter] = None) -> BinaryIO:
    """Open a path (or "-") for binary reading, mapping OS errors to one-line InputErrors.

    With a ``meter`` the file is opened here and handed to xopen as a file object, so the
    meter can read the on-disk position (compressed bytes) while xopen decompresses.
    """
    name = _display_name(path)
    text = os.fspath(path)
    check_readable(text)
    try:
        if meter is None or text == STDIN:
            return xopen(text, "rb", threads=0)
        raw = open(text, "rb")
        try:
            handle = xopen(raw, "rb", threads=0)
        except BaseException:
            raw.close()
            raise
        meter._attach(raw)
        return handle
    except PermissionError:
        raise InputError(name, "permission denied") from None
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(name, f"cannot open: {exc}") from None


def _short(line: bytes, limit: int = 30) -> str:
    text = line[:limit].decode("ascii", "backslashreplace")
    return text + ("..." if len(line) > limit else "")


def _looks_binary(line: bytes) -> bool:
    return any(b < 9 or 13 < b < 32 or b > 126 for b in line[:64])


def _first_line_problem(line: bytes, line_no: int) -> str:
    """Explain why a file does not start like FASTA (FASTQ, binary, bare sequence)."""
    if line.startswith(b"@"):
        return (
            "looks like FASTQ (starts with '@'); rnaloc-infer reads FASTA only "
            "(convert first, e.g. `seqtk seq -a in.fq > out.fa`)"
        )
    if _looks_binary(line):
        return f"not a FASTA file: line {line_no} contains binary data (unsupported compression or not a sequence file?)"
    return f"not a FASTA file: line {line_no} should start with '>' but starts with {_short(line)!r}"


def _make_record(source: str, number: int, header_raw: bytes, raw: bytes) -> Union[Record, RecordError]:
    header = header_raw.decode("utf-8", "backslashreplace").strip()
    words = header.split(maxsplit=1)
    rec_id = words[0] if words else ""
    if not rec_id:
        return RecordError(source, number, "", "header line '>' has no id")
    if not raw:
        return RecordError(source, number, rec_id, "empty sequence (header without sequence lines)")
    bad_id = _control_character(rec_id)
    if bad_id:
        return RecordError(source, number, rec_id.encode("unicode_escape").decode("ascii"),
                           f"the id contains a control character ({bad_id}); ids must be printable text")
    try:
        codes = encode_bytes(raw)
    except ValueError as exc:
        return RecordError(source, number, rec_id, str(exc) + _letters_hint(raw))
    return Record(rec_id, header, codes, source, number, count_ambiguous(raw))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # one regex search per record id, not a Python loop per character


def _control_character(text: str) -> str:
    """The first control character (NUL, escape, ...) in ``text`` as ``\\xNN``, or ""."""
    found = _CONTROL.search(text)
    return f"\\x{ord(found.group()):02x}" if found else ""


def _letters_hint(raw: bytes) -> str:
    """Why a record has letters that are not nucleotide codes, when the letters say so: a
    protein (many protein-only letters) or masked bases (X alone). Nothing otherwise."""
    sample = raw[:10_000].upper()
    foreign = [b for b in sample if chr(b) in _PROTEIN_ONLY]
    if foreign and set(foreign) == {ord("X")}:
        return "; X is not a nucleotide code (masked bases? write them as N)"
    if len(foreign) >= max(2, 0.05 * len(sample)):
        return "; this looks like a protein sequence, rnaloc-infer needs RNA/DNA"
    return ""


BLOCK_SIZE = 1 << 22  # bytes read per call; records are cut out of these blocks
_UTF8_BOM = b"\xef\xbb\xbf"
_DELETE = b"\r\n \t\v\f"


def _split_records(block: bytes) -> list:
    """Split text holding whole records (each starting with '>') into (header, raw) pairs."""
    out = []
    for part in block[1:].split(b"\n>"):
        header, _, body = part.partition(b"\n")
        out.append((header.rstrip(b"\r"), body.translate(None, _DELETE)))
    return out


_MAGIC_DECOMPRESSORS = (
    (b"\x1f\x8b", lambda: zlib.decompressobj(31)),  # gzip and bgzip (one member at a time)
    (b"BZh", lambda: bz2.BZ2Decompressor()),
    (b"\xfd7zXZ\x00", lambda: lzma.LZMADecompressor()),
)


def count_intact_records(path: PathLike, chunk: int = 1 << 20) -> Optional[int]:
    """Whole FASTA records in a damaged gzip/bz2/xz file before the damage; None if unknown.

    Why a second pass: the decompressing reader raises on a truncated stream without
    returning the data it had already decoded in that block, so the reader's own count can
    be hundreds of records short. Here the raw bytes go through a streaming decompressor
    that hands out everything up to the damage. A record counts when another header
    follows it (the last one seen may be cut).
    """
    headers, previous = 0, b"\n"
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
            make = next((m for prefix, m in _MAGIC_DECOMPRESSORS if magic.startswith(prefix)), None)
            if make is None:
                return None
            fh.seek(0)
            decoder = make()
            while True:
                raw = fh.read(chunk)
                if not raw:
                    break
                while raw:
                    text = decoder.decompress(raw)
                    if text:
                        headers += (previous + text[:1] == b"\n>") + text.count(b"\n>")
                        previous = text[-1:]
                    raw = decoder.unused_data if decoder.eof else b""
                    if decoder.eof:  # next member / stream of a multi-member file
                        decoder = make()
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError):
        pass
    return max(headers - 1, 0)


def _whole(path: PathLike, number: int, pending: bytearray, started: bool) -> str:
    """How many whole records preceded a read error (not just those yielded: the failing
    block of up to 4 MiB may hold hundreds of records)."""
    whole = number + (pending.count(b"\n>") if started else 0)
    if os.fspath(path) != STDIN:
        whole = max(whole, count_intact_records(path) or 0)
    return f"{whole:,} whole records read before the damage"


def read_file(path: PathLike, *, block_size: int = BLOCK_SIZE, meter: Optional[ReadMeter] = None) -> Iterator[Union[Record, RecordError]]:
    """Yield the records of one FASTA file (plain, gzip/bgzip/bz2/xz/zstd, or "-").

    Per-record problems (bad letters, empty sequence, no id) are yielded as RecordError so
    the caller decides between failing and skipping; problems that make the rest of the file
    unreadable (not FASTA, FASTQ, truncated archive, I/O error) raise InputError.

    The file is read in blocks and cut at "\\n>" boundaries: line breaks (LF or CRLF) and
    blanks inside a sequence are deleted with one bytes.translate call per record, which is
    what makes this faster than line-by-line readers.
    """
    source = _display_name(path)
    fh = _open(path, meter)
    pending = bytearray()
    number = 0
    started = False
    try:
        while True:
            block = fh.read(block_size)
            if not block:
                break
            pending += block
            if not started:
                if pending.startswith(_UTF8_BOM):  # files saved by Windows editors
                    del pending[: len(_UTF8_BOM)]
                stripped = pending.lstrip()
                if not stripped:
                    pending.clear()
                    continue
                if stripped[:1] != b">":
                    first = bytes(stripped.split(b"\n", 1)[0].strip())
                    skipped = pending[: len(pending) - len(stripped)].count(b"\n")
                    raise InputError(source, _first_line_problem(first, skipped + 1))
                pending = bytearray(stripped)
                started = True
            cut = pending.rfind(b"\n>")
            if cut <= 0:
                continue
            complete = bytes(pending[: cut + 1])
            del pending[: cut + 1]
            for header, raw in _split_records(complete.rstrip(b"\n")):
                number += 1
                if meter is not None:
                    meter.nt_read += len(raw)
                yield _make_record(source, number, header, raw)
        if started and pending:
            for header, raw in _split_records(bytes(pending)):
                number += 1
                if meter is not None:
                    meter.nt_read += len(raw)
                yield _make_record(source, number, header, raw)
    except DECOMPRESSION_ERRORS as exc:
        raise InputError(source, f"truncated or corrupt compressed file ({exc}; {_whole(path, number, pending, started)})") from None
    except OSError as exc:
        if exc.errno is None:  # bz2 (and other decoders) report a bad stream as a bare OSError
            raise InputError(source, f"truncated or corrupt compressed file ({exc}; {_whole(path, number, pending, started)})") from None
        detail = exc.strerror or str(exc)
        raise InputError(source, f"read error: {detail} ({_whole(path, number, pending, started)})") from None
    finally:
        fh.close()
        if meter is not None:
            meter._close()


class DuplicateIds:
    """Warns about repeated record ids: kept (rows follow input order), but worth a look.

    Why a class: the local reader and the Ray engine's ordered writer (which sees records
    read by many workers) report duplicates the same way. Remembers at most
    MAX_TRACKED_IDS ids, so memory stays bounded on huge inputs.
    """

    def __init__(self) -> None:
        self._seen: set = set()
        self.count = 0

    def check(self, record_id: str, source: str, number: int) -> None:
        if record_id in self._seen:
            self.count += 1
            if self.count <= MAX_DUPLICATE_WARNINGS:
                log.warning("%s: record %r (#%d): duplicate id (kept; rows follow input order)", source, record_id, number)
        elif len(self._seen) < MAX_TRACKED_IDS:
            self._seen.add(record_id)

    def finish(self) -> None:
        if self.count > MAX_DUPLICATE_WARNINGS:
            log.warning("%d duplicate ids in total (only the first %d shown)", self.count, MAX_DUPLICATE_WARNINGS)


def read_fasta(paths: Union[PathLike, Iterable[PathLike]], *, warn_duplicates: bool = True,
               meter: Optional[ReadMeter] = None) -> Iterator[Union[Record, RecordError]]:
    """Records of several files in order; duplicate ids are allowed but logged as warnings
    (:class:`DuplicateIds`). ``meter`` follows the bytes read, for a progress bar."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    duplicates = DuplicateIds()
    for path in paths:
        for item in read_file(path, meter=meter):
            if warn_duplicates and isinstance(item, Record):
                duplicates.check(item.id, item.source, item.number)
            yield item
    duplicates.finish()
