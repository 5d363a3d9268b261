"""The architecture comparison table and figure (issue 20) from the runs of train_all.sh.

Reads every run's config and per-epoch log from ``experiments/results/architectures_runs.jsonl``
(the six runs of the comparison, one JSON object per run; their checkpoints were in git until
commit 4349890, ``benchmarks/architectures/runs/``), or with ``--runs DIR`` from fresh
``DIR/arch_<kind>_s<seed>/{config.json,log.jsonl}`` folders of train_all.sh, and writes one row per run:
parameters, epochs run, best epoch (by the selection score: mean AUROC without Exosome),
valid macro AUROC and per-class AUROC at that epoch, training throughput (median nt/s over
epochs), wall time to the best epoch, and whether early stopping ended the run. With
``--onnx`` (needs ``--runs``: checkpoints) it also exports each run's ``best.pt`` and measures ONNX Runtime inference nt/s
on the same validation records, all models interleaved in one process (these machines are
noisy: compare rows of one run, not across runs).

    python experiments/architectures/table.py --out experiments/results/architectures.tsv \\
        --figure docs/architectures.png [--runs runs --onnx --onnx-records 300]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

CLASSES = ("Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER")


RECORDED = Path("experiments/results/architectures_runs.jsonl")


def run_folder(run_dir: Path) -> Dict[str, object]:
    """One run folder of train_all.sh as the recorded file holds it."""
    return {"run": run_dir.name, "config": json.loads((run_dir / "config.json").read_text()),
            "log": [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]}


def recorded_runs(path: Path = RECORDED) -> List[Dict[str, object]]:
    """The comparison's runs (arch_<kind>_s<seed>) from the recorded file."""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in runs if r["run"].startswith("arch_")]


def load_run(recorded: Dict[str, object]) -> Dict[str, object]:
    config, log = recorded["config"], recorded["log"]
    run_name = recorded["run"]
    best = max(log, key=lambda r: r["selection_score"])
    patience = config["optim"]["patience"]
    stopped = len(log) - best["epoch"] >= patience
    elapsed = np.cumsum([r["epoch_seconds"] for r in log])
    return {
        "run": run_name, "kind": config["model"]["kind"], "seed": config["seed"], "config": config,
        "log": log, "epochs": len(log), "best_epoch": best["epoch"], "best": best,
        "status": "early-stopped" if stopped else ("cap reached" if len(log) >= config["optim"]["epochs"] else "running"),
        "train_nt_per_s": statistics.median(r["train_nt_per_s"] for r in log),
        "seconds_to_best": float(elapsed[best["epoch"] - 1]),
        "elapsed": elapsed.tolist(),
    }


def count_parameters(config: dict) -> int:
    from rnaloc_infer.training.models import LocalizationModel, ModelConfig

    model = LocalizationModel(ModelConfig.from_dict(config["model"]))  # tolerates fields of older versions
    return sum(p.numel() for p in model.parameters())


def onnx_speed(runs: List[dict], run_root: Path, n_records: int, repeats: int = 3) -> Dict[str, float]:
    """nt/s of each run's exported best.pt through the runtime, interleaved round-robin."""
    from rnaloc_infer.api import Predictor
    from rnaloc_infer.export.onnx_export import export_onnx_from_checkpoint
    from rnaloc_infer.fasta import Record, read_fasta

    records = [r for r in read_fasta(Path("../shared/data/dm3loc_valid.fa.gz")) if isinstance(r, Record)][:n_records]
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    seqs = [letters[r.codes].tobytes().decode() for r in records]
    total_nt = sum(len(s) for s in seqs)
    tmp = Path(tempfile.mkdtemp())
    predictors = {}
    for run in runs:
        path = tmp / f"{run['run']}.onnx"
        export_onnx_from_checkpoint(run_root / run["run"] / "best.pt", path)
        predictors[run["run"]] = Predictor(str(path), threads=1)
    seconds = {name: [] for name in predictors}
    for _ in range(repeats):
        for name, predictor in predictors.items():
            start = time.perf_counter()
            predictor.predict(seqs)
            seconds[name].append(time.perf_counter() - start)
    return {name: total_nt / min(values) for name, values in seconds.items()}


def write_table(runs: List[dict], path: Path, onnx: Dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["model", "run", "parameters", "seed", "epochs_run", "best_epoch", "status", "macro_auroc",
               "auroc_without_exosome", *[f"auroc_{c}" for c in CLASSES], "train_nt_per_s",
               "seconds_to_best_epoch", "onnx_nt_per_s"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for run in runs:
            best = run["best"]
            writer.writerow([run["kind"], run["run"], run["parameters"], run["seed"], run["epochs"], run["best_epoch"],
                             run["status"], f"{best['macro_auroc']:.4f}", f"{best['selection_score']:.4f}",
                             *[f"{best['auroc'][c]:.4f}" for c in CLASSES], f"{run['train_nt_per_s']:.0f}",
                             f"{run['seconds_to_best']:.0f}",
                             f"{onnx[run['run']]:.0f}" if run["run"] in onnx else ""])


def recorded_onnx_speed(path: Path) -> Dict[str, float]:
    """The onnx_nt_per_s column of an earlier table (kept when --onnx does not measure it again)."""
    if not path.exists():
        return {}
    with open(path) as handle:
        return {row["run"]: float(row["onnx_nt_per_s"]) for row in csv.DictReader(handle, delimiter="\t") if row["onnx_nt_per_s"]}


def side_by_side_speed(path: Path) -> Dict[str, float]:
    """Training nt/s per kind from train_speed.py's side-by-side run (empty if absent)."""
    if not path.exists():
        return {}
    with open(path) as handle:
        return {row["model"]: float(row["train_nt_per_s"]) for row in csv.DictReader(handle, delimiter="\t")}


def plot(runs: List[dict], path: Path, speed: Dict[str, float]) -> None:
    """Score against epoch, against wall-clock time (contended: noisy), and against compute:
    epochs x train nt / the side-by-side training speed, i.e. minutes of one quiet thread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"lstm": "tab:blue", "qrnn": "tab:orange", "tcn": "tab:green"}
    fig, (by_epoch, by_time, by_compute) = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
    for run in runs:
        scores = [r["selection_score"] for r in run["log"]]
        style = "-" if run["seed"] == 1 else "--"
        label = f"{run['kind'].upper()} seed {run['seed']}"
        by_epoch.plot(range(1, len(scores) + 1), scores, style, color=colors[run["kind"]], label=label)
        by_time.plot(np.array(run["elapsed"]) / 60, scores, style, color=colors[run["kind"]], label=label)
        if run["kind"] in speed:
            train_nt = np.cumsum([r["train_nt"] for r in run["log"]])
            by_compute.plot(train_nt / speed[run["kind"]] / 60, scores, style, color=colors[run["kind"]], label=label)
    by_epoch.set_xlabel("epoch")
    by_time.set_xlabel("wall-clock minutes (1 thread, shared and loaded 2-core CPU)")
    by_compute.set_xlabel("training minutes at the side-by-side speed (1 quiet thread)")
    by_epoch.set_ylabel("valid mean AUROC without Exosome")
    by_epoch.legend(fontsize=8)
    for ax in (by_epoch, by_time, by_compute):
        ax.grid(alpha=0.3)
    fig.suptitle("LSTM vs QRNN vs TCN, ~61k parameters each, DM3Loc fold 0 valid")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=None, help="fresh run folders (default: the recorded runs)")
    ap.add_argument("--out", type=Path, default=Path("experiments/results/architectures.tsv"))
    ap.add_argument("--figure", type=Path, default=Path("docs/architectures.png"))
    ap.add_argument("--onnx", action="store_true", help="also measure ONNX Runtime inference nt/s")
    ap.add_argument("--onnx-records", type=int, default=300)
    ap.add_argument("--speed", type=Path, default=Path("experiments/results/architectures_train_speed.tsv"),
                    help="train_speed.py's side-by-side training nt/s, for the compute axis")
    args = ap.parse_args()
    if args.onnx and args.runs is None:
        ap.error("--onnx exports the runs' best.pt: give --runs DIR (train_all.sh's folders)")
    if args.runs is None:
        runs = [load_run(r) for r in recorded_runs()]
    else:
        runs = [load_run(run_folder(d)) for d in sorted(args.runs.glob("arch_*_s*")) if (d / "log.jsonl").exists()]
    for run in runs:
        run["parameters"] = count_parameters(run["config"])
    runs.sort(key=lambda r: (r["kind"], r["seed"]))
    onnx = onnx_speed(runs, args.runs, args.onnx_records) if args.onnx else recorded_onnx_speed(args.out)
    write_table(runs, args.out, onnx)
    plot(runs, args.figure, side_by_side_speed(args.speed))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
