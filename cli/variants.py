"""`rnaloc-variants`: annotate a VCF with each variant's effect on localisation (SpliceAI-style).

The command line only: options, the checks made before any work, progress and summary on
standard error. The logic is in rnaloc_infer.variants (docs/VARIANTS.md).
"""

from __future__ import annotations

import logging
import sys
from typing import Optional

import click

from rnaloc_infer import __version__
from rnaloc_infer.cli.common import THREADS_HELP, configure_logging, exit_with_status
from rnaloc_infer.errors import EXIT_OK

log = logging.getLogger("rnaloc_infer.cli")

EPILOG = """\b
Adds INFO RNALOC to every record with an ALT allele in an exon of an annotated transcript:
ALLELE|GENE|TRANSCRIPT|D_<class>...|FLAGS per allele and transcript, D = p(alt transcript)
- p(reference transcript), fp32 model. Other records are written unchanged, in order.
OUT's name picks the format: .vcf, .vcf.gz (bgzip, plus OUT.tbi) or .tsv (one row per
entry, and per allele without one, with the reason). An existing OUT is replaced
atomically; an input never is.
\b
Exit status: 0 success; 1 bad input (a REF that disagrees with the genome, a contig naming
mismatch, an unreadable VCF/genome/annotation) or unusable model; 2 usage error, or OUT is
an input (nothing written); 3 output could not be written; 4 internal error; 130/143
interrupted/terminated (nothing written).
"""


def run(vcf: str, genome: str, annotation: str, out: str, annotation_format: str, transcript_types: Optional[str],
        canonical: bool, model: str, device: str, threads: Optional[int], on_error: str, progress: bool) -> int:
    """Check everything that can be checked, then annotate; returns the exit status."""
    from tqdm import tqdm

    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.cli.genome_options import AnnotationOptions, input_files, open_source
    from rnaloc_infer.cli.predict import _check_inputs
    from rnaloc_infer.output.files import check_paths
    from rnaloc_infer.variants.annotate import annotate_vcf, summary_lines
    from rnaloc_infer.variants.vcf import output_files, require_pysam

    outputs = output_files(out)  # a usage error for an unknown extension, before anything is read
    require_pysam()
    _check_inputs([vcf, genome, annotation])
    opts = AnnotationOptions(annotation=annotation, annotation_format=annotation_format,
                             transcript_types=transcript_types, canonical=canonical)
    model_path = resolve_model(model)
    from rnaloc_infer.explain.numpy_model import companion_path

    inputs = [("VCF", vcf), ("genome", genome), ("model", model_path), ("model", companion_path(model_path))]
    inputs += input_files([genome], opts)
    check_paths(outputs, inputs)
    source = open_source(genome, opts)
    try:
        with tqdm(unit=" transcripts", desc="scoring", file=sys.stderr, dynamic_ncols=True,
                  disable=not progress or not sys.stderr.isatty()) as bar:
            tally = annotate_vcf(vcf, out, source.genome, source.transcripts, model=str(model_path), device=device,
                                 threads=threads, on_error=on_error, progress=lambda records, nt: bar.update(records))
    finally:
        source.close()
    for line in summary_lines(tally):
        log.info("%s", line)
    log.info("wrote %s", out)
    return EXIT_OK


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=EPILOG)
@click.argument("vcf", metavar="VCF")
@click.option("--genome", required=True, metavar="FA", help="Genome FASTA (plain or bgzip; indexed on first use).")
@click.option("--annotation", required=True, metavar="GTF|GFF3", help="Gene annotation (GTF or GFF3, plain or gzip).")
@click.option("-o", "--output", "out", required=True, metavar="OUT", help="OUT.vcf, OUT.vcf.gz (+ .tbi) or OUT.tsv.")
@click.option("--annotation-format", type=click.Choice(["auto", "gtf", "gff3"]), default="auto", show_default=True,
              help="Annotation format (auto: from the file name, else its content).")
@click.option("--transcript-types", metavar="LIST", default=None,
              help="Score only transcripts of these biotypes (comma list), e.g. protein_coding.")
@click.option("--canonical", is_flag=True, help="One transcript per gene (MANE_Select, else Ensembl_canonical, else longest).")
@click.option("--model", default="default", show_default=True, metavar="NAME|PATH",
              help="Bundled model name or path to an .onnx file (its fp32 file is used, never a reduced twin).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help=THREADS_HELP)
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="A record whose REF disagrees with the genome (or whose contig it lacks): stop, or keep it "
                   "unannotated with a warning.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; errors only.")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
@click.version_option(__version__, "--version", prog_name="rnaloc-variants")
def main(vcf, genome, annotation, out, annotation_format, transcript_types, canonical, model, device, threads, on_error,
         quiet, debug) -> None:
    """Annotate VCF with each variant's effect on the localisation of the transcripts it hits.

    Every ALT allele in an exon is applied to each overlapping transcript (spliced from
    --genome with --annotation, strand-aware) and both transcripts are scored (docs/VARIANTS.md).
    """
    configure_logging("rnaloc-variants", quiet, debug)
    exit_with_status(lambda: run(vcf, genome, annotation, out, annotation_format, transcript_types, canonical, model,
                                 device, threads, on_error, not quiet),
                     debug=debug, stopped="no output written")


if __name__ == "__main__":  # pragma: no cover
    main()
