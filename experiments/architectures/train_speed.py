"""Training throughput of the three compared architectures, side by side (issue 20).

The epochs of train_all.sh ran beside other jobs, so their nt/s vary by 3-5x between epochs;
this measures forward + backward + optimizer steps of the three configs of
configs/architectures/ on the *same* batches (real train records, truncated and batched as
in training), one thread, interleaved round-robin, best of ``--repeats`` rounds.

    python experiments/architectures/train_speed.py --out experiments/results/architectures_train_speed.tsv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from rnaloc_infer.training.config import load_config
from rnaloc_infer.training.data import collate, read_split, token_budget_batches
from rnaloc_infer.training.models import LocalizationModel

KINDS = ("lstm", "qrnn", "tcn")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    configs = {kind: load_config(Path("configs/architectures") / f"{kind}.toml") for kind in KINDS}
    data_cfg = configs["qrnn"].data
    train = read_split(args.data_dir / "dm3loc_train.fa.gz", args.data_dir / "dm3loc_train_labels.tsv",
                       configs["qrnn"].model.classes)
    rng = np.random.default_rng(0)
    lengths = np.array([min(len(c), data_cfg.max_len) for c in train.codes])
    all_batches = token_budget_batches(lengths, data_cfg.token_budget, rng=rng)
    chosen = [all_batches[i] for i in rng.choice(len(all_batches), args.batches, replace=False)]
    batches = [collate(train, index, data_cfg.max_len) for index in chosen]
    nt = sum(int(b[1].sum()) for b in batches)
    models = {}
    for kind, cfg in configs.items():
        torch.manual_seed(0)
        model = LocalizationModel(cfg.model)
        models[kind] = (model, torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr))
    seconds = {kind: [] for kind in KINDS}
    for _ in range(args.repeats):
        for kind, (model, optimizer) in models.items():
            model.train()
            start = time.perf_counter()
            for tokens, lens, labels in batches:
                logits = model.predict_logits(torch.from_numpy(tokens), torch.from_numpy(lens), None)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(labels))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            seconds[kind].append(time.perf_counter() - start)
    rows = [(kind, sum(p.numel() for p in models[kind][0].parameters()), nt, min(seconds[kind]), nt / min(seconds[kind]))
            for kind in KINDS]
    for kind, params, n, s, rate in rows:
        print(f"{kind:5s} {params:7d} params  {n:,} nt in {s:.2f} s  {rate:,.0f} nt/s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["model", "parameters", "train_nt", "seconds_best", "train_nt_per_s"])
            for kind, params, n, s, rate in rows:
                writer.writerow([kind, params, n, f"{s:.3f}", f"{rate:.0f}"])


if __name__ == "__main__":
    main()
