"""The genome's index files (``.fai``, and ``.gzi`` for bgzip): checked against the genome
before use, rebuilt atomically or refused with the command that fixes it.

Why: the backends trust an index that is newer than its genome (pyfaidx and htslib compare
dates only), so a genome re-wrapped at another line width -- or re-downloaded by a tool that
keeps the file's date -- with its old ``.fai`` left beside it was read at the old offsets,
and wrong transcript sequences were scored without a word. The check is cheap (a few small
reads, whatever the genome's size):

* size: the last record's offset + its bases + line terminators must reach the end of the
  genome (only line ends may follow);
* content, for up to ``SAMPLE`` records (all when there are fewer; else the first, the last
  and evenly spaced ones): the byte before the record's offset ends a ``>NAME`` header line,
  the first line holds ``line_bases`` bases and then ends, the last line ends where the
  index says, and the line before it ends at its place;
* bgzip: the ``.gzi`` entries sampled are block starts whose block sizes add up (``BSIZE``
  and ``ISIZE`` of the BGZF headers), and it reaches the end of the file; the uncompressed
  bytes are then read through it.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import struct
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple

SAMPLE = 64  # records checked at most
HEADER_WINDOW = 1 << 16  # bytes looked back for a record's header line
TAIL_SLACK = 4096  # bytes of blank lines allowed after the last record
_BGZF_MAGIC = b"\x1f\x8b\x08\x04"
_EOF_SCAN = 8  # BGZF blocks followed past the last .gzi entry at most


class FaiEntry(NamedTuple):
    """One ``.fai`` line: name, length (bases), offset (byte of the first base), line bases, line bytes."""

    name: str
    length: int
    offset: int
    line_bases: int
    line_width: int

    def sequence_end(self) -> int:
        """Byte offset just past the last base (the last line's terminator starts there)."""
        if self.length == 0:
            return self.offset
        lines = -(-self.length // self.line_bases)
        return self.offset + (lines - 1) * self.line_width + self.length - (lines - 1) * self.line_bases


def fai_path(genome: Path) -> Path:
    return Path(f"{genome}.fai")


def gzi_path(genome: Path) -> Path:
    return Path(f"{genome}.gzi")


def read_fai(path: Path) -> List[FaiEntry]:
    """The entries of a ``.fai`` file; ValueError naming the line for a malformed one."""
    entries = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            try:
                name, (length, offset, bases, width) = parts[0], map(int, parts[1:5])
            except (ValueError, TypeError):
                raise ValueError(f"line {number} is not NAME, LENGTH, OFFSET, LINEBASES, LINEWIDTH") from None
            if min(length, offset, bases, width) < 0 or width < bases or (length and not bases):
                raise ValueError(f"line {number} has impossible numbers")
            entries.append(FaiEntry(name, length, offset, bases, width))
    if not entries:
        raise ValueError("it is empty")
    return entries


# ------------------------------------------------------------------ byte access
class _Plain:
    def __init__(self, path: Path) -> None:
        self.handle = open(path, "rb")
        self.size = os.fstat(self.handle.fileno()).st_size

    def read(self, pos: int, count: int) -> bytes:
        self.handle.seek(pos)
        return self.handle.read(count)

    def close(self) -> None:
        self.handle.close()


def read_gzi(path: Path) -> List[Tuple[int, int]]:
    """(compressed, uncompressed) offset of each BGZF block start, (0, 0) included."""
    data = path.read_bytes()
    if len(data) < 8:
        raise ValueError("it is truncated")
    (count,) = struct.unpack_from("<Q", data)
    if len(data) != 8 + 16 * count:
        raise ValueError(f"it holds {(len(data) - 8) // 16} of the {count} entries it announces")
    pairs = [(0, 0)] + [struct.unpack_from("<QQ", data, 8 + 16 * i) for i in range(count)]
    if any(b[0] <= a[0] or b[1] < a[1] for a, b in zip(pairs, pairs[1:])):  # an empty block adds no bytes
        raise ValueError("its offsets do not increase")
    return pairs


def _block_sizes(handle, coffset: int, file_size: int) -> Optional[Tuple[int, int]]:
    """(compressed size, uncompressed size) of the BGZF block at ``coffset``; None if no block starts there."""
    handle.seek(coffset)
    head = handle.read(18)
    if len(head) < 18 or head[:4] != _BGZF_MAGIC or head[12:14] != b"BC":
        return None
    bsize = struct.unpack_from("<H", head, 16)[0] + 1
    if coffset + bsize > file_size:
        return None
    handle.seek(coffset + bsize - 4)
    (isize,) = struct.unpack("<I", handle.read(4))
    return bsize, isize


class _Bgzf:
    """Uncompressed byte access to a bgzip genome through its ``.gzi`` (checked on opening)."""

    def __init__(self, path: Path, gzi: Path) -> None:
        from Bio import bgzf

        self.blocks = read_gzi(gzi)
        self.ustarts = [u for _, u in self.blocks]
        self.raw = open(path, "rb")
        try:
            self.file_size = os.fstat(self.raw.fileno()).st_size
            self.size = self._check_blocks()
            self.reader = bgzf.BgzfReader(fileobj=self.raw, mode="rb")
        except BaseException:
            self.raw.close()
            raise

    def _check_blocks(self) -> int:
        """The uncompressed size, after checking sampled entries against the blocks' headers."""
        last = len(self.blocks) - 1
        for i in _sample(len(self.blocks)):
            coffset, ustart = self.blocks[i]
            sizes = _block_sizes(self.raw, coffset, self.file_size)
            if sizes is None:
                raise ValueError(f"its entry {i} (byte {coffset:,}) is not the start of a BGZF block")
            if i < last and (self.blocks[i + 1][0] != coffset + sizes[0] or self.blocks[i + 1][1] != ustart + sizes[1]):
                raise ValueError(f"its entries {i} and {i + 1} do not match the genome's BGZF blocks")
        coffset, total = self.blocks[last]
        for _ in range(_EOF_SCAN):
            if coffset == self.file_size:
                return total
            sizes = _block_sizes(self.raw, coffset, self.file_size)
            if sizes is None:
                break
            coffset, total = coffset + sizes[0], total + sizes[1]
        raise ValueError("it does not reach the end of the genome")

    def read(self, pos: int, count: int) -> bytes:
        if pos >= self.size or count <= 0:
            return b""
        i = bisect.bisect_right(self.ustarts, pos) - 1
        self.reader.seek((self.blocks[i][0] << 16) | (pos - self.ustarts[i]))
        return self.reader.read(count)

    def close(self) -> None:
        self.raw.close()


def _sample(n: int, most: int = SAMPLE) -> List[int]:
    if n <= most:
        return list(range(n))
    return sorted({round(k * (n - 1) / (most - 1)) for k in range(most)})


# ------------------------------------------------------------------ the check
def _record_problem(data, entry: FaiEntry) -> Optional[str]:
    """Why ``entry`` does not describe the bytes of ``data`` (a _Plain or _Bgzf), or None."""
    name = entry.name
    window = 512
    while True:  # look back for the line before the record: 512 bytes, then more for a long header
        start = max(0, entry.offset - window)
        before = data.read(start, entry.offset - start)
        if not before.endswith(b"\n"):
            return f"record {name!r} does not start after a line end at byte {entry.offset:,}"
        cut = before.rfind(b"\n", 0, len(before) - 1)
        if cut >= 0 or start == 0:
            break
        if window >= HEADER_WINDOW:
            return f"no header line for record {name!r} before byte {entry.offset:,}"
        window *= 8
    header = before[cut + 1:].rstrip(b"\r\n")
    token = header[1:].split(None, 1)[0] if len(header) > 1 else b""
    if not header.startswith(b">") or token.decode("utf-8", "replace") != name:
        return f"the line before record {name!r}'s offset is not its header '>{name}'"
    if entry.length == 0:
        return None
    first = min(entry.line_bases, entry.length)
    eol = entry.line_width - entry.line_bases
    head = data.read(entry.offset, first + (eol if entry.length > entry.line_bases else 0))
    if len(head) < first or any(c in head[:first] for c in b"\r\n>"):
        return f"record {name!r}'s first line is not {entry.line_bases} bases long"
    if entry.length > entry.line_bases and head[first:].strip(b"\r") != b"\n":
        return f"record {name!r}'s first line does not end after {entry.line_bases} bases"
    end = entry.sequence_end()
    tail = data.read(end - 1, 2)
    if not tail or tail[:1] in (b"\r", b"\n", b">") or (len(tail) > 1 and tail[1:] not in (b"\r", b"\n")):
        return f"record {name!r} does not end at byte {end:,} as indexed"
    lines = -(-entry.length // entry.line_bases)
    if lines > 1 and data.read(entry.offset + (lines - 1) * entry.line_width - 1, 1) != b"\n":
        return f"record {name!r}'s lines are not {entry.line_width} bytes apart"
    return None


def _size_problem(data, last: FaiEntry) -> Optional[str]:
    end = last.sequence_end()
    if end > data.size:
        return f"the genome ends at byte {data.size:,}, before its last record {last.name!r} does ({end:,})"
    rest = data.read(end, TAIL_SLACK + 1)
    if len(rest) > TAIL_SLACK or rest.strip(b"\r\n \t"):
        return f"the genome goes on after its last indexed record {last.name!r} (byte {end:,} of {data.size:,})"
    return None


def index_problem(genome: Path, bgzf: bool) -> Optional[str]:
    """Why the index beside ``genome`` cannot be used, or None when it matches it.

    "no index" (missing files) and "stale" problems read alike: both mean "build it".
    """
    fai = fai_path(genome)
    gzi = gzi_path(genome)
    if not fai.exists():
        return f"it has no index {fai.name}"
    if bgzf and not gzi.exists():
        return f"it has no index {gzi.name}"
    try:
        entries = sorted(read_fai(fai), key=lambda e: e.offset)
    except (OSError, ValueError) as exc:
        return f"its index {fai.name} is unreadable ({exc})"
    try:
        data = _Bgzf(genome, gzi) if bgzf else _Plain(genome)
    except ValueError as exc:
        return f"its index {gzi.name} does not match it ({exc})"
    try:
        problem = _size_problem(data, entries[-1])
        for i in ([] if problem else _sample(len(entries))):
            problem = _record_problem(data, entries[i])
            if problem:
                break
    except (OSError, ValueError, EOFError) as exc:  # Bio.bgzf on a damaged block
        problem = f"it cannot be read at the indexed offsets ({exc})"
    finally:
        data.close()
    return None if problem is None else f"its index {fai.name} does not match it: {problem}"


def build_index(genome: Path, backend: str, bgzf: bool) -> None:
    """Write ``GENOME.fai`` (and ``.gzi``) anew, through temporary files renamed at the end
    (rnaloc_infer.output.files), so a killed run leaves the old index or none, never half of
    one. Raises ValueError with the backend's reason for a FASTA it cannot index."""
    from ..output.files import atomic_path

    with contextlib.ExitStack() as stack:
        tmp_fai = stack.enter_context(atomic_path(fai_path(genome)))
        tmp_gzi = stack.enter_context(atomic_path(gzi_path(genome))) if bgzf else None
        if backend == "pysam":
            _build_pysam(genome, tmp_fai, tmp_gzi)
        else:
            _build_pyfaidx(genome, tmp_fai, tmp_gzi)


def _build_pyfaidx(genome: Path, fai: Path, gzi: Optional[Path]) -> None:
    import pyfaidx

    try:
        faidx = pyfaidx.Faidx(str(genome), indexname=str(fai), gzi_indexname=None if gzi is None else str(gzi),
                              build_index=True)
    except pyfaidx.FastaIndexingError as exc:
        raise ValueError(str(exc)) from None
    faidx.close()


def _build_pysam(genome: Path, fai: Path, gzi: Optional[Path]) -> None:
    import pysam

    args = [str(genome), "--fai-idx", str(fai)] + ([] if gzi is None else ["--gzi-idx", str(gzi)])
    try:
        pysam.faidx(*args)
    except pysam.SamtoolsError as exc:
        raise ValueError(str(exc).strip().splitlines()[-1] if str(exc).strip() else "samtools faidx failed") from None
