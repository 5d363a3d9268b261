"""All the files for one explained transcript, in a directory of its own.

Layout of ``OUT_DIR/<directory>/`` (the record id made safe and unique: .dirnames):
``ism.npz`` (the full array), ``regions.tsv`` (top regions per class), ``ism.png`` (the
picture), ``<class>.mean.bedgraph`` and ``<class>.min.bedgraph`` (transcript coordinates)
and, for annotated transcripts, ``genome/<class>.mean.bedgraph`` / ``.min.bedgraph``
(genome coordinates). Every file goes through rnaloc_infer.output.files (temporary name,
renamed when complete); nothing else in the directory is touched (.outdir checks it first).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..applicability import flag_text
from ..features.coding import longest_orf
from ..errors import OutputError, output_error
from ..output.files import atomic_output, atomic_path
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


def class_stem(name: str) -> str:
    """A class name as it starts its bedGraph file names (class names come from the model)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:100] or "class"


def report_files(classes: Sequence[str], *, genome: bool, plot: bool) -> List[str]:
    """Every file :func:`write_report` writes into a record's directory, relative to it: the
    only files ``--force`` replaces there (checked against the inputs before any work)."""
    files = ["ism.npz", "regions.tsv"] + (["ism.png"] if plot else [])
    for name in classes:
        for stat in STATS:
            files.append(f"{class_stem(name)}.{stat}.bedgraph")
            if genome:
                files.append(f"genome/{class_stem(name)}.{stat}.bedgraph")
    return files


@contextlib.contextmanager
def _binary_output(path: Path) -> Iterator[IO[bytes]]:
    """A binary stream whose file appears at ``path`` only if the block succeeds (synced first)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _make_dir(path: Path, created: List[Path]) -> None:
    """Create ``path`` (it must not exist: it did not when the run was checked)."""
    try:
        path.mkdir()
    except FileExistsError:
        raise OutputError(f"cannot write into {path}: it appeared while explain ran (not created by it); "
                          "nothing was written there") from None
    except OSError as exc:
        raise output_error(str(path), exc) from None
    created.append(path)


def write_report(folder: Path, record_id: str, header: str, explanation: Explanation, classes: Sequence[str],
                 thresholds: Sequence[float], model_id: str, *, create: bool = True, genome: Optional[GenomeMap] = None,
                 region_nt: int = 20, top: int = 5, plot: bool = True, applicability: Optional[tuple] = None,
                 prevalence: Optional[Sequence[float]] = None) -> Path:
    """Write every output for one transcript into ``folder``; returns it.

    ``create``: make ``folder`` (the caller checked it does not exist); False writes into the
    existing one (``--force``), replacing only :func:`report_files`. All files are written to
    temporary names first and renamed together at the end, so an interruption leaves the
    directory as it was (a folder made here is removed again). ``applicability``: the
    record's flags under the model's rules (None: the model has none), stored in the .npz
    as ``rnaloc-infer`` writes them (``ok``, the flags, or ``-``). ``prevalence``: the model's
    training prevalence, for the picture's headline (the class with the largest lift,
    :func:`.plot.headline`); None keeps the highest probability."""
    codes = explanation.codes
    scores = position_scores(explanation.delta, codes)
    regions = {name: top_regions(scores["mean"][:, c], region_nt, top) for c, name in enumerate(classes)}
    where = None
    if genome is not None:
        where = genome_positions(genome.exons, genome.strand)
        if len(where) != len(codes):
            raise ValueError(f"record {record_id}: exons cover {len(where)} nt but the sequence has {len(codes)}")
    created: List[Path] = []
    try:
        if create:
            _make_dir(folder, created)
        if genome is not None and not (folder / "genome").is_dir():
            _make_dir(folder / "genome", created)
        with contextlib.ExitStack() as stack:  # every file renamed into place only when all are written
            def binary(name: str) -> IO[bytes]:
                return stack.enter_context(_binary_output(folder / name))

            def text(name: str) -> IO[str]:
                return stack.enter_context(atomic_output(folder / name))

            write_npz(binary("ism.npz"), record_id, model_id, classes, explanation.delta, explanation.reference, codes,
                      applicability=flag_text(applicability))
            write_regions(text("regions.tsv"), record_id, codes, classes, regions)
            for c, name in enumerate(classes):
                for stat in STATS:
                    what = "mean change over the substitutions" if stat == "mean" else "most negative substitution"
                    label = f"{record_id} {name} {stat}"
                    description = f"ISM {what}, P({name}), model {model_id}"
                    write_bedgraph(text(f"{class_stem(name)}.{stat}.bedgraph"), record_id, scores[stat][:, c], label,
                                   description)
                    if genome is not None:
                        write_bedgraph(text(f"genome/{class_stem(name)}.{stat}.bedgraph"), genome.chrom,
                                       scores[stat][:, c], label, description, positions=where)
            if plot:
                from .plot import plot_explanation

                plot_explanation(binary("ism.png"), record_id, model_id, classes, explanation.reference, thresholds,
                                 scores, regions, coding_region(header, codes), prevalence=prevalence)
    except BaseException:
        for path in reversed(created):  # only what this call made, and only if empty
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    return folder
