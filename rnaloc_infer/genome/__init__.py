"""Genome + annotation input: transcripts spliced from an indexed genome by a GTF/GFF3 file.

Optional part of the runtime (``pip install 'rnaloc-infer[genome]'`` for pyfaidx; pysam is
used when installed). ``index`` opens the genome, ``annotation`` reads GTF/GFF3 into
transcript models, ``filters`` selects transcripts, ``transcripts`` turns the selection
into the same ``Record`` stream that FASTA input gives, so everything after it is shared.
"""
