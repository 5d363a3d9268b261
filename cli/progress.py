"""The progress bar of `rnaloc-infer`: with a total, a percentage and an ETA when the input size is known.

Input given as files: the total is their size on disk and the bar advances by bytes read
(compressed bytes for compressed files, from :class:`rnaloc_infer.fasta.ReadMeter`), scaled by
the share of nucleotides read that are already scored, so it reaches 100 % when the last
record is written, not when the reader (which runs one look-ahead window ahead) hits the end.
Genome mode counts transcripts against their number; standard input has no total (the bar
then counts nucleotides). Off when stderr is not a terminal or with --quiet.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from tqdm import tqdm

from rnaloc_infer.fasta import ReadMeter


def input_bytes(paths: Sequence[str]) -> Optional[int]:
    """Total on-disk size of the inputs (the bar's total); None when one is stdin or not a
    regular file (a pipe, /dev/stdin), whose size is unknown."""
    total = 0
    for path in paths:
        if path == "-" or not os.path.isfile(path):
            return None
        total += os.path.getsize(path)
    return total


class RunProgress:
    """``update(records, nt)`` is the runtime's progress callback (called per scored batch)."""

    def __init__(self, *, enabled: bool, total_bytes: Optional[int] = None, total_records: Optional[int] = None,
                 meter: Optional[ReadMeter] = None) -> None:
        self._meter = meter if total_bytes is not None else None
        self._by_records = total_bytes is None and total_records is not None
        self.records = 0
        self.nt = 0
        disable = not enabled or not sys.stderr.isatty()
        common = dict(desc="predicting", file=sys.stderr, dynamic_ncols=True, disable=disable)
        if self._meter is not None:
            self._bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, **common)
        elif self._by_records:
            self._bar = tqdm(total=total_records, unit=" transcripts", **common)
        else:
            self._bar = tqdm(unit="nt", unit_scale=True, **common)

    def update(self, records: int, nt: int) -> None:
        self.records += records
        self.nt += nt
        bar = self._bar
        if self._meter is not None:
            read_nt = max(self._meter.nt_read, 1)
            position = int(self._meter.bytes_read * min(1.0, self.nt / read_nt))
            bar.set_postfix_str(f"{self.records:,} records", refresh=False)
            bar.update(max(0, min(position, bar.total) - bar.n))
        elif self._by_records:
            bar.update(records)
        else:
            bar.set_postfix_str(f"{self.records:,} records", refresh=False)
            bar.update(nt)

    def close(self) -> None:
        self._bar.close()
