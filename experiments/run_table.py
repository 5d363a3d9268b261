"""Markdown rows of valid AUROC per class from training runs' ``log.jsonl`` (docs/RESULTS.md).

    python experiments/run_table.py runs/lstm runs/lstm_kmer --epoch 4
    python experiments/run_table.py runs/qrnn_motif_long --epoch best

``--epoch N`` takes epoch N of every run (equal-epoch comparisons); ``best`` the epoch with
the highest selection score (what ``best.pt`` holds); ``last`` the final one. The
"without Exosome" column is the mean over the five other classes (Exosome has 23 valid
negatives). Train seconds are per epoch, as logged (wall clock on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import List


def _score(row: dict) -> float:
    if "selection_score" in row:
        return row["selection_score"]
    return row["macro_auroc"]


def pick(rows: List[dict], epoch: str) -> dict:
    if epoch == "last":
        return rows[-1]
    if epoch == "best":
        return max(rows, key=lambda r: -math.inf if math.isnan(_score(r)) else _score(r))
    matches = [r for r in rows if r["epoch"] == int(epoch)]
    if not matches:
        raise SystemExit(f"no epoch {epoch} in the log (epochs {rows[0]['epoch']}..{rows[-1]['epoch']})")
    return matches[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--epoch", default="best", help="N, best or last")
    args = parser.parse_args()
    header = None
    for run in args.runs:
        rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
        row = pick(rows, args.epoch)
        classes = list(row["auroc"])
        if header is None:
            header = classes
            print("| run | epoch | " + " | ".join(classes) + " | macro | without Exosome | train s/epoch |")
            print("|---|---:|" + "---:|" * (len(classes) + 3))
        aurocs = [row["auroc"][c] for c in header]
        rest = [v for c, v in zip(header, aurocs) if c != "Exosome"]
        seconds = sum(r["train_seconds"] for r in rows[: rows.index(row) + 1]) / (rows.index(row) + 1)
        print(f"| `{run.name}` | {row['epoch']} of {len(rows)} | " + " | ".join(f"{v:.3f}" for v in aurocs)
              + f" | **{row['macro_auroc']:.4f}** | {sum(rest) / len(rest):.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
