"""The forest member of an ensemble: gradient-boosted trees on k-mer frequencies and the
encoded protein's features, fitted here and evaluated inside the graph.

Why: on the regression member's own inputs, one ``HistGradientBoostingClassifier`` per
class beats the linear model by a wide margin (valid macro AUROC 0.762 vs 0.727), and as a
fourth equal member of the default's recipe it lifts every class (docs/RESULTS.md, "Trees
instead of the linear regression"). Trees use interactions a linear model cannot (a signal
peptide *and* no transmembrane segment; GC3 only in long ORFs).

* :func:`fit_forest` fits on the train split only, settings fixed in advance (no choice on
  valid), and :class:`FittedForest` saves plain arrays (``np.load(allow_pickle=False)``).
* :class:`KmerForest` runs the trees in the graph (:mod:`rnaloc_infer.trees`): it carries
  the counts of every 5-mer (base 5, N as its own letter) across chunks in fp32, turns
  them into the regression's k-mer frequencies at each call, appends the protein features
  (the ensemble's ``features`` input) and scores the trees: walked with gathers in eager
  PyTorch and TorchScript, one ONNX-ML ``TreeEnsembleRegressor`` node in an exported graph
  (ONNX Runtime follows each record's path only). Its blend weight is folded into the leaf
  values, so the ensemble adds its output unchanged. With the ensemble's regression it
  shares one 5-mer count scatter per call.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from rnaloc_infer.features.registry import CODING_UTR, FEATURE_SETS, feature_width, record_feature_matrix
from rnaloc_infer.output.npz_json import check_format, load_npz, save_npz
from rnaloc_infer.trees import TREE_DOMAIN, TREE_OP, TreeEnsemble, acgt_rows, onnx_attributes

from .kmers import kmer_context, kmer_counts, kmer_index, vocabulary_size
from .regression import KS, feature_matrix

log = logging.getLogger(__name__)

FOREST_FORMAT = "rnaloc-kmer-forest"
# fixed before any look at valid (experiments/tree_heads.py measured exactly these)
SETTINGS = dict(learning_rate=0.05, max_iter=400, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
                early_stopping=True, validation_fraction=0.15, n_iter_no_change=30, random_state=0)


@dataclass(frozen=True)
class ForestRecipe:
    """What a forest is fitted with beyond the fixed :data:`SETTINGS`, chosen per run and part
    of a cross-fitting folder's record (folds fitted with different recipes are never mixed).

    * ``bags``: forests averaged per class, each stopping on its own early-stopping split
      (``random_state`` 0..bags-1; bag 0 is the single forest): lowers the variance of the
      member the blend leans on most.
    * ``max_features``: the fraction of the columns each split chooses from (scikit-learn's
      per-node feature subsampling; 1.0 = all): forests that see different columns differ
      more, so their bag averages out more.
    """

    bags: int = 1
    max_features: float = 1.0

    def __post_init__(self) -> None:
        if self.bags < 1:
            raise ValueError(f"bags must be at least 1, got {self.bags}")
        if not 0.0 < self.max_features <= 1.0:
            raise ValueError(f"max_features must lie in (0, 1], got {self.max_features}")

    def record(self) -> dict:
        """The entries that differ from a single forest on all columns (what files record)."""
        return {key: getattr(self, key) for key in RECIPE_KEYS if getattr(self, key) != getattr(ForestRecipe, key)}

    def describe(self) -> str:
        """The recipe in a message: "2 bag(s) on 100% of the columns"."""
        return f"{self.bags} bag(s) on {self.max_features:.0%} of the columns"

    @classmethod
    def from_record(cls, record: dict) -> "ForestRecipe":
        return cls(int(record.get("bags", 1)), float(record.get("max_features", 1.0)))

    def settings(self) -> dict:
        """scikit-learn settings of bag ``0`` (the others differ in ``random_state`` only)."""
        return {**SETTINGS, **({"max_features": self.max_features} if self.max_features != 1.0 else {})}


RECIPE_KEYS = ("bags", "max_features")  # ForestRecipe's fields, as files record them


@dataclass
class FittedForest:
    trees: TreeEnsemble
    ks: List[int]
    classes: List[str]
    features: str  # the per-record feature set after the k-mer blocks ("" = none; rnaloc_infer.features.registry)
    trees_fitted: List[int]  # boosting iterations kept per class, over all bags (the rest of a class's rows are empty trees)
    bags: int = 1  # forests averaged per class, each with its own early-stopping split (random_state 0..bags-1)
    max_features: float = 1.0  # fraction of the columns each split chose from (ForestRecipe)

    @property
    def recipe(self) -> ForestRecipe:
        return ForestRecipe(self.bags, self.max_features)

    @property
    def columns(self) -> int:
        return sum(4**k for k in self.ks) + feature_width(self.features)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(rows, classes) decision scores of :func:`.regression.feature_matrix` rows."""
        return self.trees.scores(x).astype(np.float64)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        header = {"format": FOREST_FORMAT, "format_version": 1, "ks": self.ks, "classes": self.classes,
                  "features": self.features, "trees_fitted": self.trees_fitted, "settings": self.recipe.settings(),
                  "bags": self.bags, "max_features": self.max_features}
        return save_npz(path, self.trees.to_arrays(), header)


def load_forest(path: str | Path) -> FittedForest:
    """A forest written by :meth:`FittedForest.save` (plain arrays only), checked."""
    path = Path(path)
    header, arrays = load_npz(path, what="k-mer forest")
    check_format(path, header, FOREST_FORMAT, (1,))
    try:
        trees = TreeEnsemble.from_arrays(arrays)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a k-mer forest file ({exc})") from None
    if header.get("features", "") not in ("", *FEATURE_SETS):
        raise ValueError(f"{path}: unknown feature set {header.get('features')!r} (this version knows {', '.join(FEATURE_SETS)})")
    forest = FittedForest(trees, list(header["ks"]), list(header["classes"]), header.get("features", ""),
                          list(header.get("trees_fitted", [])), int(header.get("bags", 1)),
                          float(header.get("max_features", 1.0)))
    try:
        trees.check(forest.columns)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if trees.classes != len(forest.classes):
        raise ValueError(f"{path}: {trees.classes} classes of trees for {len(forest.classes)} class names")
    return forest


def trees_from_sklearn(estimators: Sequence) -> Tuple[TreeEnsemble, List[int]]:
    """Fitted binary ``HistGradientBoostingClassifier`` models, one per class or a bag (a list) per
    class -> flat arrays (module docstring of :mod:`rnaloc_infer.trees`). A bag's trees are
    one class's trees with their leaf values and baselines divided by the bag's size, so the
    class scores the mean of its forests' decision scores; classes with fewer trees are
    padded with single-leaf zero trees."""
    bags = [list(e) if isinstance(e, (list, tuple)) else [e] for e in estimators]
    per_class = [[(stage[0].nodes, 1.0 / len(bag)) for estimator in bag for stage in estimator._predictors]
                 for bag in bags]
    for nodes, _ in (n for trees in per_class for n in trees):
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported")
    width = max(len(trees) for trees in per_class)
    feature, threshold, left, right, value, roots, depth = [], [], [], [], [], [], 0
    start = 0
    for trees in per_class:
        for i in range(width):
            if i < len(trees):
                nodes, scale = trees[i]
                leaf = nodes["is_leaf"].astype(bool)
                own = np.arange(len(nodes))
                # float32 at or below the float64 threshold: x32 <= t32 exactly when x32 <= t64
                t32 = nodes["num_threshold"].astype(np.float32)
                t32 = np.where(t32.astype(np.float64) > nodes["num_threshold"], np.nextafter(t32, np.float32(-np.inf)), t32)
                feature.append(np.where(leaf, 0, nodes["feature_idx"]))
                threshold.append(np.where(leaf, 0.0, t32).astype(np.float32))
                left.append(start + np.where(leaf, own, nodes["left"]))
                right.append(start + np.where(leaf, own, nodes["right"]))
                value.append(np.where(leaf, nodes["value"] * scale, 0.0))
                depth = max(depth, int(nodes["depth"].max()))
            else:  # padding: one leaf worth 0
                feature.append(np.zeros(1, np.int64)), threshold.append(np.zeros(1, np.float32))
                left.append(np.array([start])), right.append(np.array([start])), value.append(np.zeros(1))
            roots.append(start)
            start += len(feature[-1])
    baseline = np.array([np.mean([float(np.ravel(e._baseline_prediction)[0]) for e in bag]) for bag in bags],
                        dtype=np.float32)
    trees = TreeEnsemble(np.concatenate(feature).astype(np.int64), np.concatenate(threshold).astype(np.float32),
                         np.concatenate(left).astype(np.int64), np.concatenate(right).astype(np.int64),
                         np.concatenate(value).astype(np.float32), np.array(roots, dtype=np.int64), baseline, depth)
    trees.check()
    return trees, [len(trees_) for trees_ in per_class]


def forest_inputs(codes: Sequence[np.ndarray], ks: Sequence[int] = KS, features: str = CODING_UTR,
                  feature_rows: Optional[np.ndarray] = None) -> np.ndarray:
    """(records, columns) float32 rows a forest reads: the whole record's k-mer frequencies
    (:func:`.regression.feature_matrix`), then the per-record feature set ``features``
    (``feature_rows`` when the caller computed them already)."""
    kmers = feature_matrix(codes, ks)
    if not features:
        return kmers.astype(np.float32)
    if feature_rows is None:
        feature_rows = record_feature_matrix(codes, features)
    return np.hstack([kmers, feature_rows]).astype(np.float32)


def fit_forest(x: np.ndarray, labels: np.ndarray, classes: Sequence[str], *, ks: Sequence[int] = KS,
               features: str = CODING_UTR, settings: Optional[dict] = None,
               recipe: ForestRecipe = ForestRecipe()) -> FittedForest:
    """One forest per class on train feature rows ``x`` (:func:`forest_inputs`, float32
    as the graph computes them), or with ``recipe.bags`` > 1 the mean of that many per class
    (:class:`ForestRecipe`). ``settings`` override :data:`SETTINGS` (tests only). Needs
    scikit-learn (the [train] extra)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.asarray(x, dtype=np.float32)
    chosen = {**recipe.settings(), **(settings or {})}
    estimators = []
    for c, name in enumerate(classes):
        bag = [HistGradientBoostingClassifier(**{**chosen, "random_state": chosen["random_state"] + seed}).fit(x, labels[:, c])
               for seed in range(recipe.bags)]
        estimators.append(bag)
        log.info("forest %s: %s trees", name, "+".join(str(e.n_iter_) for e in bag))
    trees, fitted = trees_from_sklearn(estimators)
    return FittedForest(trees, list(ks), list(classes), features, fitted, recipe.bags, recipe.max_features)


class KmerForest(nn.Module):
    """The trees in the graph (module docstring). States: the 5-mer context (half-precision
    safe codes), then the fp32 5-mer counts of the record so far."""

    def __init__(self, ks: List[int], n_classes: int, n_nodes: int, n_trees: int, depth: int, n_features: int):
        super().__init__()
        self.ks = list(ks)
        self.widest_k = max(ks)
        self.widest_vocabulary = vocabulary_size(self.widest_k)
        self.depth = depth
        self.n_classes = n_classes
        self.n_features = n_features
        self.n_half_states = 1
        self.n_fp32_states = 1
        self.register_buffer("feature", torch.zeros(n_nodes, dtype=torch.long))
        self.register_buffer("threshold", torch.zeros(n_nodes))
        self.register_buffer("left", torch.zeros(n_nodes, dtype=torch.long))
        self.register_buffer("right", torch.zeros(n_nodes, dtype=torch.long))
        self.register_buffer("value", torch.zeros(n_nodes))
        self.register_buffer("roots", torch.zeros(n_trees, dtype=torch.long))
        self.register_buffer("baseline", torch.zeros(n_classes))
        # the N-free k-mers' rows of each k, one after another (TorchScript has no getattr by name)
        self.register_buffer("rows", torch.from_numpy(np.concatenate([acgt_rows(k) for k in ks])), persistent=False)
        self.row_starts = [int(sum(4**j for j in ks[:i])) for i in range(len(ks) + 1)]
        self.vocabularies = [vocabulary_size(k) for k in ks]

    @torch.jit.unused
    def state_shapes(self) -> List[List[int]]:
        return [[self.widest_k - 1], [self.widest_vocabulary]]

    @torch.jit.unused
    def load_trees(self, trees: TreeEnsemble) -> "KmerForest":
        with torch.no_grad():
            for name, value in trees.to_arrays().items():
                if name != "depth":
                    getattr(self, name).copy_(torch.from_numpy(value))
        return self

    def frequencies(self, counts: Tensor) -> Tensor:
        """(B, 5**K) fp32 counts -> (B, sum 4**k) N-free k-mer frequencies (rnaloc_infer.trees)."""
        blocks: List[Tensor] = []
        for i in range(len(self.ks)):
            own = counts.reshape(counts.size(0), -1, self.vocabularies[i]).sum(dim=1)
            own = own.index_select(1, self.rows[self.row_starts[i] : self.row_starts[i + 1]])
            blocks.append(own / own.sum(dim=1, keepdim=True).clamp(min=1.0))
        return torch.cat(blocks, dim=1)

    def forward(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                record_features: Optional[Tensor] = None, chunk_counts: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        """``chunk_counts``: this call's 5-mer counts when the ensemble's regression scattered
        them already (the same k-mers, from the same context)."""
        if chunk_counts is None:
            valid = torch.arange(tokens.size(1), device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1)
            index, context = kmer_index(tokens, states[0], self.widest_k)
            chunk_counts = kmer_counts(index, valid, self.widest_vocabulary)
        else:
            context = kmer_context(tokens, states[0])
        counts = states[1] + chunk_counts.to(states[1].dtype)
        x = self.frequencies(counts.float())
        if self.n_features > 0:
            if record_features is None:
                raise RuntimeError("this model needs the per-record features input")
            x = torch.cat([x, record_features.float()], dim=1)
        if torch.jit.is_scripting():
            score = self.walk(x)
        else:
            score = self._traced_walk(x)
        return score, [context.to(states[0].dtype), counts]

    def walk(self, x: Tensor) -> Tensor:
        """(B, classes) scores of feature rows ``x``: every tree walked ``depth`` steps.

        Where every node sends each record is decided once for all nodes (one gather of the
        columns, one comparison); each step is then a single gather. Eager and TorchScript
        run this; an ONNX export emits the ML operator instead (:class:`_TreeEnsemble`)."""
        successor = torch.where(x.index_select(1, self.feature) <= self.threshold, self.left, self.right)
        node = self.roots.unsqueeze(0) + torch.zeros(x.size(0), 1, dtype=torch.long, device=x.device)
        for _ in range(self.depth):
            node = torch.gather(successor, 1, node)
        return self.value[node].reshape(x.size(0), self.n_classes, -1).sum(dim=2) + self.baseline

    @torch.jit.unused
    def _traced_walk(self, x: Tensor) -> Tensor:
        if not torch.onnx.is_in_onnx_export():
            return self.walk(x)
        # the tracer passes plain numbers to the function, not modules, and a tensor the function
        # reads without taking it as an input breaks the trace: the trees go as numpy arrays
        key = next(_EXPORT_KEYS)  # unique even if a failed export left an entry behind
        _EXPORTING[key] = self.trees()
        return _TreeEnsemble.apply(x, key)

    @torch.jit.unused
    def trees(self) -> TreeEnsemble:
        """The buffers as numpy arrays."""
        arrays = {name: getattr(self, name).detach().cpu().numpy() for name in
                  ("feature", "threshold", "left", "right", "value", "roots", "baseline")}
        return TreeEnsemble(**arrays, depth=self.depth)


_EXPORTING: Dict[int, TreeEnsemble] = {}
_EXPORT_KEYS = itertools.count()


class _TreeEnsemble(torch.autograd.Function):
    """Exports the walk as one ONNX-ML ``TreeEnsembleRegressor`` node (rnaloc_infer.trees.onnx_attributes):
    ONNX Runtime follows each record's path only, in compiled code."""

    @staticmethod
    def forward(ctx, x: Tensor, key: int) -> Tensor:  # type: ignore[override]
        return torch.from_numpy(_EXPORTING[key].scores(x.detach().cpu().numpy())).to(x.device)

    @staticmethod
    def symbolic(g, x, key):  # pragma: no cover - exercised through export tests
        trees = _EXPORTING.pop(key)
        kinds = {"nodes_values": "f", "target_weights": "f", "base_values": "f", "nodes_modes": "s",
                 "aggregate_function": "s", "post_transform": "s"}  # the rest are integers
        suffixed = {f"{name}_{kinds.get(name, 'i')}": value for name, value in onnx_attributes(trees).items()}
        out = g.op(f"{TREE_DOMAIN}::{TREE_OP}", x, **suffixed)
        out.setType(x.type().with_sizes([None, trees.classes]))
        return out

