"""Everything a run writes, and the one path results take to it.

* :mod:`.run`: the run path (``RunOptions``, ``open_run``/``RunPath``): out-of-range policy,
  labels, profile and annotation columns, the writer, summary, errors report and sidecar,
  for every engine.
* :mod:`.files`: the file-safety layer every writing command uses (same-file check,
  atomic temp-and-rename, refuse-or-``--force``, writability before work).
* :mod:`.formats`: the registry of formats and compressions by extension, and the writer per format.
* :mod:`.tables`: tsv/csv/jsonl rows (quoted so every reader sees the right fields).
* :mod:`.genome_formats`: BED6+ and GFF3 writers for genome-mode runs (``--annotation``).
* :mod:`.errors_report`: skipped records, counted and listed in the errors file.
* :mod:`.summary`: per-run counts (records, skipped, flagged, labels per class, speed).
* :mod:`.sidecar`: the run's metadata as JSON written beside the output (``out.tsv.json``).
* :mod:`.npz_json`: plain-array ``.npz`` artefacts with a JSON header (atomic, never unpickled).

Nothing here imports click or onnxruntime.
"""
