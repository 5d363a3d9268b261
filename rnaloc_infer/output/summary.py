"""What a run did, counted as it goes: the closing stderr lines and the sidecar's ``summary``.

Counts: records scored, nucleotides, records skipped (bad input with ``--on-error skip``),
records flagged (outside the model's training range: the applicability column; also counted
per flag code) and dropped (``--out-of-range drop``), and per class how many records were
labelled with it (probability at or above the class threshold), plus those with no label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence


@dataclass
class RunSummary:
    """Mutable counters for one run; ``finish()`` stops the clock."""

    classes: Sequence[str]
    records: int = 0
    nt: int = 0
    skipped: int = 0
    dropped: int = 0
    flagged: int = 0
    flags: Dict[str, int] = field(default_factory=dict)
    labelled: Dict[str, int] = field(default_factory=dict)
    unlabelled: int = 0
    uncalled: int = 0  # scored but not labelled: outside the model's range (--out-of-range keep)
    started: float = field(default_factory=time.time)
    finished: Optional[float] = None
    _clock: float = field(default_factory=time.perf_counter, repr=False)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.labelled = {name: 0 for name in self.classes}

    def add(self, length: int, labels: Optional[Sequence[str]], flags: Optional[Sequence[str]] = None) -> None:
        """Count one scored record with the labels it was given (None: no call, out of range)
        and its applicability flags (``()`` or None: in range or unchecked)."""
        self.records += 1
        self.nt += int(length)
        if labels is None:
            self.uncalled += 1
        else:
            for name in labels:
                self.labelled[name] += 1
            if not labels:
                self.unlabelled += 1
        if flags:
            self.flag(flags)

    def flag(self, flags: Sequence[str]) -> None:
        """Count a record outside the model's range (also called for --out-of-range error)."""
        self.flagged += 1
        for code in flags:
            self.flags[code] = self.flags.get(code, 0) + 1

    def skip(self) -> None:
        self.skipped += 1

    def drop(self, flags: Sequence[str]) -> None:
        """A flagged record left out (--out-of-range drop): counted as flagged, not scored."""
        self.dropped += 1
        self.flag(flags)

    @property
    def mnt_per_s(self) -> float:
        return self.nt / 1e6 / max(self.seconds, 1e-9)

    def finish(self) -> "RunSummary":
        self.finished = time.time()
        self.seconds = time.perf_counter() - self._clock
        return self

    def as_dict(self) -> Dict[str, object]:
        """JSON-ready counts (the sidecar's ``summary`` object)."""
        return {
            "records": self.records,
            "skipped": self.skipped,
            "dropped": self.dropped,
            "flagged": self.flagged,
            "flags": dict(sorted(self.flags.items())),
            "nt": self.nt,
            "labelled": dict(self.labelled),
            "unlabelled": self.unlabelled,
            "not_called": self.uncalled,
            "seconds": round(self.seconds, 3),
            "mnt_per_s": round(self.mnt_per_s, 3),
        }

    def lines(self) -> List[str]:
        """Human-readable closing lines for stderr."""
        head = (
            f"{self.records:,} records scored, {self.skipped:,} skipped, {self.flagged:,} flagged"
            + (f" ({self.dropped:,} dropped)" if self.dropped else "") + "; "
            f"{self.nt:,} nt in {self.seconds:.1f} s ({self.mnt_per_s:.2f} Mnt/s)"
        )
        per_class = ", ".join(f"{name} {count:,}" for name, count in self.labelled.items())
        lines = [head, f"labelled: {per_class}; no label {self.unlabelled:,}"
                 + (f"; not labelled (out of range) {self.uncalled:,}" if self.uncalled else "")]
        if self.flags:
            lines.append("flags: " + ", ".join(f"{code} {count:,}" for code, count in sorted(self.flags.items())))
        return lines
