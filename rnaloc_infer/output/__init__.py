"""Output concerns beside the row writers of :mod:`rnaloc_infer.writers`.

* :mod:`.formats`: which format and compression a path asks for (``-o out.csv.gz``).
* :mod:`.genome_formats`: BED6+ and GFF3 writers for genome-mode runs (``--annotation``).
* :mod:`.summary`: per-run counts (records, skipped, flagged, labels per class, speed).
* :mod:`.sidecar`: the run's metadata as JSON written beside the output (``out.tsv.json``).
* :mod:`.npz_json`: plain-array ``.npz`` artefacts with a JSON header (atomic, never unpickled).

Nothing here imports click or onnxruntime.
"""
