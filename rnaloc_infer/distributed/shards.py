"""Cut FASTA inputs into independent shards and read one shard into record blocks.

Why this exists: distributed prediction (:mod:`rnaloc_infer.distributed.engine`) needs units of
input that different machines can read without talking to each other, yet every record must
keep the identity it has in the single-process runtime (file, 1-based record number), so that
results can be merged back into input order and errors name the same record.

* An uncompressed file larger than ``shard_bytes`` is split into byte ranges that start at a
  record boundary (a ``>`` right after a newline). Planning counts the ``\\n>`` boundaries
  before each cut, so every shard knows the number of its first record. Counting runs at
  memory speed (``bytes.count`` on an ``mmap``), far faster than the model.
* A compressed file (gzip, bgzip, bz2, xz, zstd) cannot be entered in the middle, so it is one
  shard read from the start with the runtime's own :func:`rnaloc_infer.fasta.read_file`.
  Parallelism then comes from the model stage, which is where the time goes.

Records are parsed with the same functions as :mod:`rnaloc_infer.fasta` (splitting,
validation, encoding), so a shard yields exactly the ``Record``/``RecordError`` items that
``read_file`` yields for the same bytes; ``tests/test_distributed.py`` checks this.
This module needs only the runtime's dependencies (no Ray).
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, replace
from typing import Iterator, List, Optional, Sequence, Union

from ..errors import InputError
from ..fasta import STDIN, Record, RecordError, read_file

# The runtime parser's own record splitting and validation: reused (not re-implemented) so
# that a byte-range shard produces the same items as read_file on the whole file.
from ..fasta import _make_record, _split_records  # noqa: E402  (private, same package)

Item = Union[Record, RecordError]

SHARD_BYTES = 64 << 20  # uncompressed bytes per shard (a few seconds of reading)
_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")  # gzip/bgzip, bz2, xz, zstd


@dataclass(frozen=True)
class Shard:
    """A piece of one input file that can be read on its own.

    ``start``/``end`` are byte offsets of an uncompressed file (``end=None``: read the whole
    file with ``read_file``, as for compressed files); ``first_number`` is the 1-based number,
    within the file, of the shard's first record.
    """

    file_index: int  # position of the file in the input list
    path: str  # absolute path, for opening on any worker
    source: str  # the name as given, for messages (same as the single-process runtime)
    start: int = 0
    end: Optional[int] = None
    first_number: int = 1


def is_compressed(path: str) -> bool:
    """True when the file starts with a compression magic number (xopen detects the same)."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    return any(head.startswith(magic) for magic in _MAGIC)


def plan_file(file_index: int, path: str, shard_bytes: int = SHARD_BYTES) -> List[Shard]:
    """Shards of one file, in order; raises InputError exactly as read_file would.

    The first record is read with ``read_file`` first, so a missing, non-FASTA, FASTQ or
    binary file fails here with the runtime's own message, before any work is scheduled.
    """
    if shard_bytes < 1:
        raise ValueError(f"shard_bytes must be >= 1, got {shard_bytes}")
    source = os.fspath(path)
    if source == STDIN:
        raise InputError("<stdin>", "standard input cannot be read by distributed workers; pass files")
    absolute = os.path.abspath(source)
    records = read_file(source)
    try:
        first = next(records, None)
    finally:
        records.close()
    if first is None:
        return []  # no records: the runtime also produces no rows
    size = os.path.getsize(absolute)
    if size <= shard_bytes or is_compressed(absolute):
        return [Shard(file_index, absolute, source)]
    shards: List[Shard] = []
    with open(absolute, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = data.find(b">")  # read_file accepted the file: only whitespace precedes it
        number = 1
        while start < size:
            target = start + shard_bytes
            cut = data.find(b"\n>", target - 1) if target < size else -1
            end = size if cut < 0 else cut + 1
            shards.append(Shard(file_index, absolute, source, start, end, number))
            number += 1 + data[start:end].count(b"\n>")
            start = end
    return shards


def plan_shards(paths: Sequence[Union[str, "os.PathLike[str]"]], shard_bytes: int = SHARD_BYTES) -> List[Shard]:
    """Shards of all inputs in input order (file index, then byte offset)."""
    shards: List[Shard] = []
    for index, path in enumerate(paths):
        shards.extend(plan_file(index, os.fspath(path), shard_bytes))
    return shards


def read_shard(shard: Shard) -> Iterator[Item]:
    """Yield the records of one shard, numbered as in the whole file."""
    if shard.end is None:
        yield from _renamed(read_file(shard.path), shard.source)
        return
    with open(shard.path, "rb") as fh:
        fh.seek(shard.start)
        data = fh.read(shard.end - shard.start)
    if len(data) != shard.end - shard.start:
        raise InputError(shard.source, f"file changed while reading (expected {shard.end} bytes)")
    number = shard.first_number
    for header, raw in _split_records(data.rstrip(b"\n")):
        yield _make_record(shard.source, number, header, raw)
        number += 1


def _renamed(items: Iterator[Item], source: str) -> Iterator[Item]:
    """Items of read_file(absolute path) named by the path as the user gave it."""
    try:
        for item in items:
            if isinstance(item, Record):
                item.source = source
                yield item
            else:
                yield replace(item, source=source)
    except InputError as exc:
        raise InputError(source, exc.problem, record=exc.record, number=exc.number) from None
