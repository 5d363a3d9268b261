"""``rnaloc-variants`` without the command line: VCF in, annotated VCF/TSV out.

The caller has already made the file-safety checks (``output.files.check_paths``) and
opened the genome and annotation (``genome.transcripts.AnnotatedSource``), so that every
refusal and every input problem is reported before the model is loaded.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

from ..api import Predictor
from ..genome.annotation import Transcript
from ..genome.index import IndexedGenome
from .scoring import Tally, VariantScorer
from .vcf import PathLike, VcfInput, write

log = logging.getLogger(__name__)


def annotate_vcf(vcf: PathLike, out: PathLike, genome: IndexedGenome, transcripts: Sequence[Transcript], *,
                 model: str = "default", device: str = "auto", threads: Optional[int] = None, on_error: str = "fail",
                 progress: Optional[Callable[[int, int], None]] = None) -> Tally:
    """Annotate every record of ``vcf`` into ``out`` (format from its name); returns the tally.

    The model runs in fp32 (never an int8/fp16 twin): D is a small difference of two
    probabilities, which a reduced-precision twin's rounding would swamp."""
    source = VcfInput(vcf)
    try:
        predictor = Predictor(model, device=device, threads=threads, precision="fp32")
        classes = predictor.classes
        scorer = VariantScorer(genome, transcripts, predictor.session, config=predictor.config,
                               workers=predictor.workers, on_error=on_error, source=source.path, progress=progress)
        write(source, scorer.annotate(source), out, classes)
    finally:
        source.close()
    return scorer.tally


def summary_lines(tally: Tally) -> Sequence[str]:
    """The run's summary for standard error: records, entries and why alleles got none."""
    lines = [f"{tally.records:,} records, {tally.alleles:,} ALT alleles: {tally.entries:,} entries "
             f"(allele x transcript), {tally.references:,} reference transcripts scored"
             + (f"; {tally.by_ism:,} SNV entries by the exact ISM engine" if tally.by_ism else "")]
    if tally.left_out:
        parts = ", ".join(f"{n:,} {reason}" for reason, n in tally.left_out.most_common())
        lines.append(f"alleles without an entry: {parts}")
    return lines
