"""Regenerate the explain example of the docs: docs/explain_example.png and the numbers said about it.

The picture in README.md and docs/EXPLAIN.md is ``rnaloc-explain``'s ``ism.png`` for one valid
mRNA (NM_001278636, EBPL, labelled ER among others) with the bundled default model. Its
numbers (the probabilities, the top region per class) go to a small results file,
``benchmarks/results/explain_example.json``, from which the docs quote them
(``tests/test_doc_figures.py`` keeps the two equal), so a new default cannot leave a stale
P(ER) in the docs. One record of about 1 kb: a few seconds on two cores.

    python benchmarks/explain_example.py --data-dir ../shared/data --force

Without ``--force`` existing outputs are refused (one line, exit 2); both are written
whole or not at all (rnaloc_infer.output.files).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from rnaloc_infer.errors import RnalocError
from rnaloc_infer.output.files import atomic_write_bytes, atomic_write_text, check_paths

ROOT = Path(__file__).resolve().parents[1]
RECORD = "NM_001278636"
COMMAND = "python benchmarks/explain_example.py --data-dir ../shared/data --force"


def _label_row(labels_tsv: Path, record: str) -> Dict[str, str]:
    """The record's row of the labels TSV (gene name and 0/1 per class)."""
    with open(labels_tsv, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["id"] == record:
                return row
    raise RnalocError(f"{labels_tsv}: no record {record}")


def _top_regions(regions_tsv: Path) -> Dict[str, dict]:
    """Rank-1 region per class from explain's regions.tsv."""
    top: Dict[str, dict] = {}
    with open(regions_tsv, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["rank"] == "1":
                top[row["class"]] = {"start": int(row["start"]), "end": int(row["end"]), "sequence": row["sequence"],
                                     "summed_effect": round(float(row["summed_effect"]), 4)}
    return top


def explain_example(data_dir: Path, record: str, model: str, threads: int, png: Path, out: Path) -> dict:
    """Run rnaloc-explain on ``record`` of the valid split into a temporary directory, copy its
    picture to ``png`` and return the figures written to ``out``."""
    fasta = data_dir / "dm3loc_valid.fa.gz"
    labels_tsv = data_dir / "dm3loc_valid_labels.tsv"
    for path in (fasta, labels_tsv):
        if not path.is_file():
            raise RnalocError(f"{path}: not found (point --data-dir at the folder holding the DM3Loc splits)")
    row = _label_row(labels_tsv, record)
    with tempfile.TemporaryDirectory(prefix="explain_example.") as tmp:
        command = [sys.executable, "-m", "rnaloc_infer.cli.explain", str(fasta), "--ids", record, "--model", model,
                   "--threads", str(threads), "-q", "-o", tmp]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise RnalocError(f"rnaloc-explain failed on {record} (exit {done.returncode}): {last}")
        folder = Path(tmp) / record
        ism = np.load(folder / "ism.npz", allow_pickle=False)
        classes: List[str] = [str(c) for c in ism["classes"]]
        figures = {
            "command": COMMAND,
            "explain_command": f"rnaloc-explain ../shared/data/dm3loc_valid.fa.gz --ids {record} --model {model} "
                               f"--threads {threads} -o explained/",
            "record": record,
            "gene": row.get("gene_name", ""),
            "length": int(len(str(ism["sequence"]))),
            "labels": [c for c in classes if row.get(c) == "1"],
            "model": str(ism["model_id"]),
            "applicability": str(ism["applicability"]),
            "probabilities": {c: round(float(p), 4) for c, p in zip(classes, ism["reference"])},
            "top_region": _top_regions(folder / "regions.tsv"),
            "threads": threads,
            "seconds": round(seconds, 1),
        }
        png_bytes = (folder / "ism.png").read_bytes()
    atomic_write_bytes(png, png_bytes)
    atomic_write_text(out, json.dumps(figures, indent=1) + "\n")
    return figures


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--record", default=RECORD)
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "explain_example.png")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "explain_example.json")
    parser.add_argument("--force", action="store_true", help="replace existing --png / --out")
    args = parser.parse_args(argv)
    try:
        check_paths([("picture", args.png), ("results file", args.out)], [], force=args.force)
        figures = explain_example(args.data_dir, args.record, args.model, args.threads, args.png, args.out)
    except RnalocError as exc:
        print(f"explain_example: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    print(f"{figures['record']} ({figures['length']} nt): P = {figures['probabilities']}, "
          f"{figures['seconds']} s -> {args.png}, {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
