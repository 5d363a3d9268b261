"""All the files for one explained transcript, in a directory of its own.

Layout of ``OUT_DIR/<record id>/``: ``ism.npz`` (the full array), ``regions.tsv`` (top
regions per class), ``ism.png`` (the picture), ``<class>.mean.bedgraph`` and
``<class>.min.bedgraph`` (transcript coordinates) and, for annotated transcripts,
``genome/<class>.mean.bedgraph`` / ``.min.bedgraph`` (genome coordinates). The directory is
built under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

from ..applicability import flag_text
from ..features.coding import longest_orf
from .ism import Explanation
from .tracks import STATS, genome_positions, position_scores, top_regions, write_bedgraph, write_npz, write_regions

_CDS_IN_HEADER = re.compile(r"\bCDS[:=](\d+)-(\d+)")  # GENCODE transcript FASTA: |CDS:61-1041|


@dataclass(frozen=True)
class GenomeMap:
    """Where an annotated transcript lies: contig, strand, exons (0-based half open, ascending)."""

    chrom: str
    strand: str
    exons: Tuple[Tuple[int, int], ...]


def coding_region(header: str, codes: np.ndarray) -> Optional[Tuple[int, int, str]]:
    """(start, end, label) of the CDS, 0-based half open: from a GENCODE-style ``CDS:a-b``
    in the header, else the longest ORF with its stop codon (None without one)."""
    found = _CDS_IN_HEADER.search(header)
    if found:
        start, end = int(found.group(1)) - 1, int(found.group(2))
        if 0 <= start < end <= len(codes):
            return start, end, "CDS"
    start, codons = longest_orf(codes)
    if codons == 0:
        return None
    return start, min(len(codes), start + 3 * (codons + 1)), "longest ORF"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def safe_name(record_id: str) -> str:
    """A file-system-safe directory name for a record id."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", record_id).strip("._") or "record"
    return name[:200]


def write_report(out_dir: Path, record_id: str, header: str, explanation: Explanation, classes: Sequence[str],
                 thresholds: Sequence[float], model_id: str, *, genome: Optional[GenomeMap] = None,
                 region_nt: int = 20, top: int = 5, plot: bool = True, applicability: Optional[tuple] = None) -> Path:
    """Write every output for one transcript; returns its directory.

    ``applicability``: the record's flags under the model's rules (None: the model has none),
    stored in the .npz as ``rnaloc-infer`` writes them (``ok``, the flags, or ``-``)."""
    codes = explanation.codes
    scores = position_scores(explanation.delta, codes)
    regions = {name: top_regions(scores["mean"][:, c], region_nt, top) for c, name in enumerate(classes)}
    target = out_dir / safe_name(record_id)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=out_dir))
    try:
        write_npz(work / "ism.npz", record_id, model_id, classes, explanation.delta, explanation.reference, codes,
                  applicability=flag_text(applicability))
        write_regions(work / "regions.tsv", record_id, codes, classes, regions)
        where = None
        if genome is not None:
            where = genome_positions(genome.exons, genome.strand)
            if len(where) != len(codes):
                raise ValueError(f"record {record_id}: exons cover {len(where)} nt but the sequence has {len(codes)}")
            (work / "genome").mkdir()
        for c, name in enumerate(classes):
            for stat in STATS:
                what = "mean change over the substitutions" if stat == "mean" else "most negative substitution"
                label = f"{record_id} {name} {stat}"
                description = f"ISM {what}, P({name}), model {model_id}"
                write_bedgraph(work / f"{safe_name(name)}.{stat}.bedgraph", record_id, scores[stat][:, c], label, description)
                if genome is not None:
                    write_bedgraph(work / "genome" / f"{safe_name(name)}.{stat}.bedgraph", genome.chrom,
                                   scores[stat][:, c], label, description, positions=where)
        if plot:
            from .plot import plot_explanation

            plot_explanation(work / "ism.png", record_id, model_id, classes, explanation.reference, thresholds,
                             scores, regions, coding_region(header, codes))
        work.chmod(0o777 & ~_umask())
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target
