"""Per-position scores, top regions, and the files they are written to.

Scores per position and class, from the ISM array ``delta`` (length, 4, classes):

* ``mean``: the mean change in probability over the substitutions at that position (three,
  or four at an N). Negative = the sequence there raises the class's probability (changing
  it lowers the probability), i.e. the position *supports* the class.
* ``min``: the most negative change of any substitution: how much one point mutation there
  can take away.

Formats, written to streams the caller opens (explain.report, through
rnaloc_infer.output.files: temporary name, renamed when complete): bedGraph in transcript
coordinates (chrom = record id) or, for annotated transcripts, in genome coordinates (one
line per nucleotide, split across exons, minus-strand transcripts mapped base by base,
sorted by position); the whole array as a compressed ``.npz``; a TSV of the top regions
per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from ..alphabet import ALPHABET

STATS = ("mean", "min")


def position_scores(delta: np.ndarray, codes: np.ndarray) -> Dict[str, np.ndarray]:
    """{"mean": (length, classes), "min": (length, classes)} over each position's substitutions."""
    substituted = np.arange(4)[None, :] != np.asarray(codes)[:, None]  # (length, 4); all four at an N
    weights = substituted[:, :, None]
    mean = (delta * weights).sum(axis=1) / substituted.sum(axis=1)[:, None]
    lowest = np.where(weights, delta, np.inf).min(axis=1)
    return {"mean": mean.astype(np.float32), "min": lowest.astype(np.float32)}


@dataclass(frozen=True)
class Region:
    """A window of the transcript (0-based, half open) and its summed per-position score."""

    start: int
    end: int
    effect: float

    @property
    def direction(self) -> str:
        return "supports" if self.effect < 0 else "opposes"


def top_regions(score: np.ndarray, width: int, count: int) -> List[Region]:
    """The ``count`` non-overlapping windows of ``width`` nt with the largest |summed score|."""
    width = max(1, min(width, len(score)))
    sums = np.concatenate(([0.0], np.cumsum(score, dtype=np.float64)))
    windows = sums[width:] - sums[:-width]
    taken = np.zeros(len(score), dtype=bool)
    regions: List[Region] = []
    for start in np.argsort(-np.abs(windows), kind="stable"):
        if len(regions) == count:
            break
        if taken[start : start + width].any():
            continue
        taken[start : start + width] = True
        regions.append(Region(int(start), int(start) + width, float(windows[start])))
    return regions


def genome_positions(exons: Sequence[Tuple[int, int]], strand: str) -> np.ndarray:
    """Genome coordinate (0-based) of every transcript position, 5' to 3'.

    ``exons``: (start, end) 0-based half open in ascending genome order (as in the annotation).
    """
    pieces = [np.arange(s, e) for s, e in sorted(exons)]
    positions = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    return positions[::-1] if strand == "-" else positions


def _bedgraph_lines(chrom: str, starts: np.ndarray, values: np.ndarray) -> Iterator[str]:
    for start, value in zip(starts.tolist(), values.tolist()):
        yield f"{chrom}\t{start}\t{start + 1}\t{value:.6g}\n"


def write_bedgraph(out: IO[str], chrom: str, values: np.ndarray, name: str, description: str,
                   positions: np.ndarray | None = None) -> None:
    """One bedGraph track: per transcript position, or at ``positions`` (genome) sorted."""
    starts = np.arange(len(values)) if positions is None else np.asarray(positions)
    order = np.argsort(starts, kind="stable")
    out.write(f'track type=bedGraph name="{name}" description="{description}" visibility=full '
              'color=200,40,40 altColor=40,80,200 graphType=bar\n')
    out.writelines(_bedgraph_lines(chrom, starts[order], np.asarray(values)[order]))


def write_regions(out: IO[str], record_id: str, codes: np.ndarray, classes: Sequence[str],
                  regions: Dict[str, List[Region]]) -> None:
    """TSV of the top regions per class: 1-based inclusive start and end, the sequence, the effect."""
    letters = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
    out.write("record_id\tclass\trank\tstart\tend\tsequence\tsummed_effect\tdirection\n")
    for name in classes:
        for rank, region in enumerate(regions[name], 1):
            sequence = letters[codes[region.start : region.end]].tobytes().decode()
            out.write(f"{record_id}\t{name}\t{rank}\t{region.start + 1}\t{region.end}\t{sequence}\t"
                      f"{region.effect:.6g}\t{region.direction}\n")


def write_npz(out: IO[bytes], record_id: str, model_id: str, classes: Sequence[str], delta: np.ndarray,
              reference: np.ndarray, codes: np.ndarray, applicability: str = "-") -> None:
    """The full ISM array and what it belongs to, compressed (load with ``numpy.load``)."""
    letters = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
    np.savez_compressed(
        out, delta=delta, reference=reference, record_id=np.array(record_id), model_id=np.array(model_id),
        classes=np.array(list(classes)), bases=np.array("ACGT"),
        sequence=np.array(letters[codes].tobytes().decode()), applicability=np.array(applicability),
    )
