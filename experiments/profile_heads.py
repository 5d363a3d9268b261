"""Frozen-feature heads that separate "how many compartments" from "which" (issue 20).

The bundled default's class probabilities move together (Nucleus~Cytosol 0.946 on valid) and
its p(Nucleus) - p(Cytosol) barely separates Nucleus-only from Cytosol-only records. This
script asks whether the *features* the default already computes know more than its heads
say: it exposes the pooled features of both QRNN networks (and the hidden layer of their
heads) as extra outputs of a temporary copy of ``default.onnx`` (the shipped file is not
touched), runs train and valid through it once (cached as .npy), adds the k-mer + coding
regression's features, and fits small heads on **train**:

* ``logistic``: one logistic regression per class (control; what the default's heads do);
* ``profile``: a softmax over the compartments, trained with cross-entropy against the
  label vector divided by its sum (which compartments, not how many);
* ``count``: a Poisson regression of the number of labels (how many);
* ``pairwise``: per-class logistic + a within-record ranking loss (every labelled class of a
  record scored above every unlabelled one of the same record);
* ``logistic+profile``: the per-class logistic scores for the per-class figures and the
  profile head's log ratios for the pair figures (what an extra ``profile`` output offers).

Regularisation (L2 weight) per head from a small grid by 3-fold CV on train (criterion:
the head's own loss on the held-out folds); valid is scored once per variant with
:mod:`rnaloc_infer.evaluation.specificity`. ``pair_direct`` is a reference, not a head: a
logistic regression trained on the A-only vs B-only train records alone. Last, a paired
bootstrap of each head's pair AUROC minus the default's. Needs the [train] extra (torch, onnx).

    python experiments/profile_heads.py --data ../shared/data --cache cache \\
        --out experiments/results/profile_heads.tsv \\
        --bootstrap-out experiments/results/profile_heads_bootstrap.tsv \\
        --diagnostics-out experiments/results/profile_heads_diagnostics.tsv
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

log = logging.getLogger("profile_heads")

# Intermediate tensors of the bundled default (names of the exported graph).
TAPS = {
    "net_pool": "/model/pool/Concat_output_0",  # first QRNN: mean, max, log length (129)
    "net_hidden": "/model/head/head.1/Relu_output_0",  # its head's hidden layer (64)
    "net_logits": "/model/head/head.3/Gemm_output_0",
    "coding_pool": "/model/members.0/Concat_1_output_0",  # coding QRNN: pooled + standardised coding (220)
    "coding_hidden": "/model/members.0/head/head.1/Relu_output_0",
    "coding_logits": "/model/members.0/head/head.3/Gemm_output_0",
}


def tapped_model(model: Path, out: Path) -> Path:
    """A copy of ``model`` whose graph also outputs the tensors of :data:`TAPS`."""
    import onnx

    proto = onnx.load(str(model))
    produced = {o for node in proto.graph.node for o in node.output}
    if not set(TAPS.values()) <= produced:
        # the bundled default runs its two networks fused since 2026-11-29 (docs/EXPORT.md)
        raise SystemExit(f"{model} lacks the unfused networks' tensors these taps read; pass --model with the "
                         "unfused default: git show 8e91ac4:rnaloc_infer/models/default.onnx > default.unfused.onnx")
    have = {o.name for o in proto.graph.output}
    for name in TAPS.values():
        if name not in have:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    onnx.save(proto, str(out))
    return out


def extract(model: Path, fasta: Path, labels: Path, cache: Path, split: str, token_budget: int = 400_000) -> None:
    """Run one split through the tapped default; write ``<split>_<tap>.npy``, probs, labels, k-mer features."""
    import onnxruntime as ort

    from rnaloc_infer.features.coding import coding_feature_matrix
    from rnaloc_infer.alphabet import pad_batch
    from rnaloc_infer.training.data import read_split, token_budget_batches
    from rnaloc_infer.training.models import CLASSES
    from rnaloc_infer.training.regression import feature_matrix

    cache.mkdir(parents=True, exist_ok=True)
    data = read_split(fasta, labels, list(CLASSES))
    np.save(cache / f"{split}_labels.npy", data.labels)
    if not (cache / f"{split}_kmer.npy").exists():
        start = time.perf_counter()
        np.save(cache / f"{split}_kmer.npy", feature_matrix(data.codes).astype(np.float32))
        log.info("%s k-mer features in %.0f s", split, time.perf_counter() - start)
    features = coding_feature_matrix(data.codes).astype(np.float32)
    np.save(cache / f"{split}_coding.npy", features)
    if all((cache / f"{split}_{tap}.npy").exists() for tap in TAPS):
        return
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    tapped = tapped_model(model, cache / "default_tapped.onnx")
    session = ort.InferenceSession(str(tapped), options, providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    names = ["probs", *TAPS.values()]
    out: Dict[str, np.ndarray] = {}
    start = time.perf_counter()
    done = 0
    for index in token_budget_batches(data.lengths, token_budget, rng=None):
        tokens, lengths = pad_batch([data.codes[i] for i in index])
        feeds = {"tokens": tokens, "lengths": lengths, "features": features[index]}
        for name, node in inputs.items():
            if name.startswith("state_in_"):
                feeds[name] = np.zeros([len(index), *node.shape[1:]], dtype=np.float32)
        for key, value in zip(["probs", *TAPS], session.run(names, feeds)):
            if key not in out:
                out[key] = np.zeros((len(data), value.shape[1]), dtype=np.float32)
            out[key][index] = value
        done += int(lengths.sum())
        log.info("%s: %.1f Mnt, %.0f s", split, done / 1e6, time.perf_counter() - start)
    for key, value in out.items():
        np.save(cache / f"{split}_{key}.npy", value)


# ----------------------------------------------------------------------------- heads
FEATURE_SETS = {
    # the two networks' pooled features and head hidden layers (in-sample on train: the
    # networks were trained on it, so CV on train flatters these)
    "networks": ("net_pool", "net_hidden", "coding_pool", "coding_hidden"),
    # the regression's inputs: k = 1..5 frequencies and the 91 coding features (raw, not fitted)
    "kmer_coding": ("kmer", "coding"),
    "all": ("net_pool", "net_hidden", "coding_pool", "coding_hidden", "kmer", "coding"),
}
HEADS = ("logistic", "profile", "count", "pairwise")
L2_GRID = (1e-1, 1e-2, 1e-3)  # strongest first: each fit warm-starts the next
PAIRWISE_WEIGHT = 1.0  # fixed in advance, not searched


def load_features(cache: Path, split: str, names: Sequence[str]) -> np.ndarray:
    return np.hstack([np.load(cache / f"{split}_{name}.npy").astype(np.float64) for name in names])


def head_loss(head: str, z, y, ranking_weight: float = PAIRWISE_WEIGHT):
    """The training loss of one head; ``z``: (n, outputs) linear scores, ``y``: (n, classes) 0/1."""
    import torch
    import torch.nn.functional as F

    if head == "logistic":
        return F.binary_cross_entropy_with_logits(z, y)
    if head == "profile":
        target = y / y.sum(dim=1, keepdim=True)
        return -(target * F.log_softmax(z, dim=1)).sum(dim=1).mean()
    if head == "count":  # Poisson on the number of labels beyond the first (every record has one)
        extra = y.sum(dim=1) - 1.0
        rate = z[:, 0]
        return (torch.exp(rate) - extra * rate).mean()
    if head == "pairwise":  # BCE + every labelled class of a record above every unlabelled one
        from rnaloc_infer.training.losses import within_record_ranking

        return F.binary_cross_entropy_with_logits(z, y) + ranking_weight * within_record_ranking(z, y)
    raise ValueError(head)


def fit_head(head: str, x: np.ndarray, y: np.ndarray, l2: float, iters: int = 100, start=None,
             ranking_weight: float = PAIRWISE_WEIGHT):
    """A linear head (weights, bias) by full-batch L-BFGS; ``x`` standardised; ``start``: a
    previous (weights, bias) to warm-start from."""
    import torch

    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    outputs = 1 if head == "count" else y.shape[1]
    w = torch.zeros(x.shape[1], outputs) if start is None else torch.from_numpy(start[0]).float()
    b = torch.zeros(outputs) if start is None else torch.from_numpy(start[1]).float()
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = head_loss(head, xt @ w + b, yt, ranking_weight) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64)


def held_out_loss(head: str, x: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        return float(head_loss(head, torch.from_numpy(x @ w + b).float(), torch.from_numpy(y).float()))


def choose_l2(head: str, x: np.ndarray, y: np.ndarray, folds: int = 3, seed: int = 0) -> tuple[float, Dict[float, float]]:
    """The L2 weight of :data:`L2_GRID` with the lowest mean held-out loss over ``folds`` folds of train."""
    order = np.random.default_rng(seed).permutation(len(x))
    parts = np.array_split(order, folds)
    losses: Dict[float, List[float]] = {l2: [] for l2 in L2_GRID}
    for k in range(folds):
        fit_i = np.concatenate([parts[j] for j in range(folds) if j != k])
        previous = None
        for l2 in L2_GRID:
            previous = fit_head(head, x[fit_i], y[fit_i], l2, start=previous)
            losses[l2].append(held_out_loss(head, x[parts[k]], y[parts[k]], *previous))
    mean = {l2: float(np.mean(values)) for l2, values in losses.items()}
    return min(mean, key=mean.get), mean


def standardise(train: np.ndarray, *others: np.ndarray) -> List[np.ndarray]:
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)
    return [(a - mean) / scale for a in (train, *others)]


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def variant_rows(name: str, y: np.ndarray, scores: np.ndarray, classes: Sequence[str], extra: Dict[str, float]) -> List[dict]:
    """The figures of one variant on valid (the project's specificity report) as flat rows."""
    from rnaloc_infer.evaluation.specificity import specificity_report

    report = specificity_report(y, scores, classes)
    rows = [{"variant": name, **row} for row in report.rows()]
    rows.append({"variant": name, "section": "macro", "name": "auroc", "value": float(np.nanmean(report.auroc)), "n": ""})
    five = [a for c, a in zip(classes, report.auroc) if c != "Exosome"]  # the project's selection score
    rows.append({"variant": name, "section": "macro", "name": "auroc_without_Exosome", "value": float(np.nanmean(five)),
                 "n": ""})
    rows.extend({"variant": name, "section": "extra", "name": k, "value": v, "n": ""} for k, v in extra.items())
    return rows


def pair_direct_rows(feature_set: str, x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray,
                     y_valid: np.ndarray, classes: Sequence[str]) -> List[dict]:
    """A reference, not a head: a logistic regression trained on the A-only vs B-only train
    records alone (what a dedicated classifier for the pair reaches on these features)."""
    from rnaloc_infer.evaluation.metrics import roc_auc
    from rnaloc_infer.evaluation.specificity import DEFAULT_PAIRS, same_count_auroc

    rows = []
    for first, second in DEFAULT_PAIRS:
        a, b = classes.index(first), classes.index(second)

        def groups(y):
            first_only = (y[:, a] == 1) & (y[:, b] == 0)
            return first_only, first_only | ((y[:, b] == 1) & (y[:, a] == 0))

        target, keep = groups(y_train)
        pair_y = target[keep].astype(np.float64)[:, None]
        l2, _ = choose_l2("logistic", x_train[keep], pair_y)
        w, bias = fit_head("logistic", x_train[keep], pair_y, l2)
        valid_target, valid_keep = groups(y_valid)
        score = (x_valid[valid_keep] @ w + bias)[:, 0]
        positive = valid_target[valid_keep]
        n = f"{int(positive.sum())}/{int((~positive).sum())}"
        name = f"{first}-only_vs_{second}-only"
        rows.append({"variant": f"{feature_set}/pair_direct", "section": "pair_auroc", "name": name,
                     "value": roc_auc(positive.astype(np.int8), score), "n": n})
        rows.append({"variant": f"{feature_set}/pair_direct", "section": "pair_auroc_same_count", "name": name,
                     "value": same_count_auroc(positive, score, y_valid[valid_keep].sum(axis=1)), "n": n})
        rows.append({"variant": f"{feature_set}/pair_direct", "section": "extra", "name": f"l2_{first}_{second}",
                     "value": l2, "n": ""})
    return rows


def run_table(cache: Path, out: Path | None) -> List[dict]:
    """Every head on every feature set: L2 by 5-fold CV on train, then scored once on valid."""
    import torch

    from rnaloc_infer.training.models import CLASSES

    torch.set_num_threads(1)
    classes = list(CLASSES)
    y_train, y_valid = np.load(cache / "train_labels.npy"), np.load(cache / "valid_labels.npy")
    default_probs = np.load(cache / "valid_probs.npy").astype(np.float64)
    rows = variant_rows("default", y_valid, default_probs, classes, {"log_loss": log_loss(y_valid, default_probs)})
    n_valid = y_valid.sum(axis=1)
    for feature_set, names in FEATURE_SETS.items():
        x_train, x_valid = standardise(load_features(cache, "train", names), load_features(cache, "valid", names))
        valid_scores: Dict[str, np.ndarray] = {}
        for head in HEADS:
            start = time.perf_counter()
            l2, losses = choose_l2(head, x_train, y_train)
            w, b = fit_head(head, x_train, y_train, l2)
            valid_scores[head] = x_valid @ w + b
            log.info("%s/%s: L2 %g (CV losses %s), %.0f s", feature_set, head, l2,
                     {k: round(v, 4) for k, v in losses.items()}, time.perf_counter() - start)
            extra = {"l2": l2}
            if head == "count":  # one number per record: no per-class figures
                extra["count_spearman"] = spearman(valid_scores[head][:, 0], n_valid)
                rows.extend({"variant": f"{feature_set}/count", "section": "extra", "name": k, "value": v, "n": ""}
                            for k, v in extra.items())
                continue
            scores = log_softmax(valid_scores[head]) if head == "profile" else valid_scores[head]
            if head != "profile":  # per-class probabilities: are they still calibrated?
                extra["log_loss"] = log_loss(y_valid, 1.0 / (1.0 + np.exp(-scores)))
            rows.extend(variant_rows(f"{feature_set}/{head}", y_valid, scores, classes, extra))
        np.savez(cache / f"valid_scores_{feature_set}.npz", **valid_scores)
        # "how many" x "which": expected labels per class = (1 + count) * profile, log scale
        count = np.log1p(np.exp(valid_scores["count"][:, 0]))
        factorised = count[:, None] + log_softmax(valid_scores["profile"])
        rows.extend(variant_rows(f"{feature_set}/count*profile", y_valid, factorised, classes, {}))
        rows.extend(pair_direct_rows(feature_set, x_train, y_train, x_valid, y_valid, classes))
        if out is not None:
            write_rows(rows, out)
        print_summary(rows, classes)
    rows.append({"variant": "default", "section": "extra", "name": "count_spearman",
                 "value": spearman(np.load(cache / "valid_probs.npy").sum(axis=1), n_valid), "n": ""})
    if out is not None:
        write_rows(rows, out)
    return rows


def log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy over records and classes (lower: better calibrated and sharper)."""
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from rnaloc_infer.evaluation.metrics import _average_ranks

    return float(np.corrcoef(_average_ranks(a), _average_ranks(b))[0, 1])


def write_rows(rows: List[dict], out: Path) -> None:
    import csv

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["variant", "section", "name", "n", "value"], delimiter="\t",
                                lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "value": f"{row['value']:.4f}"})


def print_summary(rows: List[dict], classes: Sequence[str]) -> None:
    table: Dict[str, Dict[tuple, float]] = {}
    for row in rows:
        table.setdefault(row["variant"], {})[(row["section"], row["name"])] = row["value"]
    nc, mer = "Nucleus-only_vs_Cytosol-only", "Membrane-only_vs_ER-only"
    print(f"{'variant':<28} {'N-vs-C':>7} {'same n':>7} {'M-vs-ER':>7} {'same n':>7} {'macro':>6} {'N~C r':>6} "
          + " ".join(f"{c[:6]:>6}" for c in classes))
    for variant, values in table.items():
        if ("pair_auroc", nc) not in values:
            continue
        line = (f"{variant:<28} {values[('pair_auroc', nc)]:>7.3f} {values[('pair_auroc_same_count', nc)]:>7.3f} "
                f"{values[('pair_auroc', mer)]:>7.3f} {values[('pair_auroc_same_count', mer)]:>7.3f}")
        if ("macro", "auroc") in values:
            line += (f" {values[('macro', 'auroc')]:>6.3f} {values[('correlation', 'Nucleus~Cytosol')]:>6.3f} "
                     + " ".join(f"{values[('auroc', c)]:>6.3f}" for c in classes))
        print(line)


def diagnostics(cache: Path, out: Path | None) -> List[dict]:
    """Why the profile fails and what the ranking weight trades, on the ``networks`` features
    (fixed L2, scored on valid; docs/RESULTS.md counts these as extra variants compared):
    profiles over (Nucleus, Cytosol) only and over the five classes without Exosome (records
    with none of the classes left out), and the pairwise head at ranking weights 0, 4, 16."""
    from rnaloc_infer.evaluation.specificity import specificity_report
    from rnaloc_infer.training.models import CLASSES

    classes = list(CLASSES)
    names = FEATURE_SETS["networks"]
    x_train, x_valid = standardise(load_features(cache, "train", names), load_features(cache, "valid", names))
    y_train, y_valid = np.load(cache / "train_labels.npy"), np.load(cache / "valid_labels.npy")
    rows: List[dict] = []

    def add(name: str, scores: np.ndarray) -> None:
        report = specificity_report(y_valid, scores, classes)
        for pair in report.pairs:
            label = f"{pair.first}-only_vs_{pair.second}-only"
            rows.append({"variant": name, "section": "pair_auroc", "name": label, "n": "", "value": pair.auroc})
            rows.append({"variant": name, "section": "pair_auroc_same_count", "name": label, "n": "",
                         "value": pair.auroc_same_count})
        rows.append({"variant": name, "section": "macro", "name": "auroc", "n": "", "value": float(np.nanmean(report.auroc))})
        print(f"{name:<32} N-vs-C {report.pairs[0].auroc:.3f} M-vs-ER {report.pairs[1].auroc:.3f} "
              f"macro {np.nanmean(report.auroc):.3f}")

    for label, subset in (("NC", ["Nucleus", "Cytosol"]), ("no_Exosome", [c for c in classes if c != "Exosome"])):
        cols = [classes.index(c) for c in subset]
        keep = y_train[:, cols].sum(axis=1) > 0
        for l2 in (0.1, 0.01):
            w, b = fit_head("profile", x_train[keep], y_train[keep][:, cols], l2)
            scores = np.zeros(y_valid.shape)
            scores[:, cols] = x_valid @ w + b
            add(f"networks/profile_{label}/l2={l2}", scores)
    for weight in (0.0, 4.0, 16.0):
        w, b = fit_head("pairwise", x_train, y_train, 0.01, ranking_weight=weight)
        add(f"networks/pairwise_weight={weight:g}/l2=0.01", x_valid @ w + b)
    if out is not None:
        write_rows(rows, out)
    return rows


def bootstrap_pair_gains(cache: Path, out: Path | None, resamples: int = 2000, seed: int = 0) -> List[dict]:
    """Paired bootstrap (valid records of the pair resampled within each group) of every saved
    head's pair AUROC minus the default's: which gains survive resampling?"""
    from rnaloc_infer.evaluation.metrics import roc_auc
    from rnaloc_infer.evaluation.specificity import DEFAULT_PAIRS, pair_auroc
    from rnaloc_infer.training.models import CLASSES

    classes = list(CLASSES)
    y = np.load(cache / "valid_labels.npy")
    candidates = {"default": np.load(cache / "valid_probs.npy").astype(np.float64)}
    for feature_set in FEATURE_SETS:
        path = cache / f"valid_scores_{feature_set}.npz"
        if path.exists():
            with np.load(path) as saved:
                candidates.update({f"{feature_set}/{head}": saved[head] for head in saved.files if head != "count"})
    rng = np.random.default_rng(seed)
    rows = []
    for first, second in DEFAULT_PAIRS:
        # how far "how many" alone goes: the true label count as the score of the first class
        oracle = np.zeros_like(y, dtype=np.float64)
        oracle[:, classes.index(first)] = y.sum(axis=1)
        result = pair_auroc(y, oracle, classes, first, second)
        rows.append({"variant": "true_label_count", "section": "pair_auroc", "name": f"{first}-only_vs_{second}-only",
                     "n": f"{result.n_first_only}/{result.n_second_only}", "value": result.auroc,
                     "ci_low": float("nan"), "ci_high": float("nan")})
        print(f"true label count as the score: {first}-only vs {second}-only AUROC {result.auroc:.3f}")
        a, b = classes.index(first), classes.index(second)
        pos = np.flatnonzero((y[:, a] == 1) & (y[:, b] == 0))
        neg = np.flatnonzero((y[:, b] == 1) & (y[:, a] == 0))
        draws = [np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)]) for _ in range(resamples)]
        target = np.concatenate([np.ones(pos.size, np.int8), np.zeros(neg.size, np.int8)])

        def aurocs(scores: np.ndarray) -> np.ndarray:
            diff = scores[:, a] - scores[:, b]
            return np.array([roc_auc(target, diff[index]) for index in draws])

        reference = aurocs(candidates["default"])
        for name, scores in candidates.items():
            if name == "default":
                continue
            gain = aurocs(scores) - reference
            low, high = np.percentile(gain, [2.5, 97.5])
            rows.append({"variant": name, "section": "bootstrap_gain_over_default", "name": f"{first}-only_vs_{second}-only",
                         "n": f"{pos.size}/{neg.size}", "value": float(gain.mean()), "ci_low": float(low), "ci_high": float(high)})
            print(f"{name:<28} {first}-only vs {second}-only: gain {gain.mean():+.3f} (95% CI {low:+.3f} to {high:+.3f})")
    if out is not None:
        import csv

        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows({**r, **{k: f"{r[k]:.4f}" for k in ("value", "ci_low", "ci_high")}} for r in rows)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--model", type=Path, default=Path("rnaloc_infer/models/default.onnx"))
    ap.add_argument("--cache", type=Path, default=Path("cache"))
    ap.add_argument("--extract-only", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--bootstrap-out", type=Path, default=None, help="TSV of the paired bootstrap of pair-AUROC gains")
    ap.add_argument("--bootstrap-only", action="store_true", help="skip extraction and the heads: bootstrap (and diagnostics) from the cache")
    ap.add_argument("--diagnostics-out", type=Path, default=None,
                    help="also run the diagnostics (profile subsets, ranking weights) and write them here")
    args = ap.parse_args()
    if not args.bootstrap_only:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        for split in ("valid", "train"):
            extract(args.model, args.data / f"dm3loc_{split}.fa.gz", args.data / f"dm3loc_{split}_labels.tsv",
                    args.cache, split)
        if args.extract_only:
            return
        run_table(args.cache, args.out)
    bootstrap_pair_gains(args.cache, args.bootstrap_out)
    if args.diagnostics_out:
        diagnostics(args.cache, args.diagnostics_out)


if __name__ == "__main__":
    main()
