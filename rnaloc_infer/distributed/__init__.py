"""The Ray engine: the same prediction spread over a Ray cluster (``pip install 'rnaloc-infer[ray]'``).

``shards`` cuts FASTA inputs into byte ranges, ``arrow_blocks`` moves records and results
through Ray Data as Arrow tables, ``engine`` runs the actor pool and merges the output in
input order. Nothing here is imported by the local runtime.
"""
