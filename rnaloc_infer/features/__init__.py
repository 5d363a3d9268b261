"""Per-record features a model may take as its ``features`` input, computed with numpy.

``registry`` names the feature sets (the one place a set is declared); ``coding`` (the
encoded protein of the longest ORF) and ``utr_kmers`` (the UTRs' k-mer frequencies) compute
their columns; ``variants`` updates them for every single-nucleotide variant of a record
(explain's in-silico mutagenesis) without recomputing each from scratch.
"""
