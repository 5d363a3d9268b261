"""Gradient-boosted trees as flat arrays, and the k-mer frequencies they read, in numpy.

Why arrays: an ensemble's forest member (``training.forest``) is fitted with sklearn but must
run in the exported graph (as one ONNX-ML ``TreeEnsembleRegressor`` node, whose attributes
:func:`onnx_attributes` writes and :func:`from_onnx_attributes` reads back) and in explain's
numpy engine, which has no sklearn. Every tree of every class is stored as one set of node
arrays, the same number of tree slots per class (shorter classes padded with single leaves
worth 0); a record is scored by walking all trees at once for ``depth`` steps (a node's test
is ``x[feature] <= threshold``: go ``left``, else ``right``; a leaf points at itself, so
walking past a shallow tree's leaf is harmless) and summing the leaves' values per class.

The thresholds are float32, rounded *down* from the fitted float64 ones, so that for any
float32 feature value ``x <= threshold32`` exactly when ``x <= threshold64``: the graph,
which computes its features in float32, makes the fitted model's decisions on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np

BASE = 5  # token codes A C G T N (the graph's k-mer indices, training.kmers)


@dataclass
class TreeEnsemble:
    """Trees of ``classes`` binary classifiers, class-major, the same number per class."""

    feature: np.ndarray  # (nodes,) int64 column each node tests (leaves: 0)
    threshold: np.ndarray  # (nodes,) float32 (leaves: 0)
    left: np.ndarray  # (nodes,) int64 node reached when x[feature] <= threshold (leaves: itself)
    right: np.ndarray  # (nodes,) int64 otherwise (leaves: itself)
    value: np.ndarray  # (nodes,) float32 leaf values (inner nodes: 0)
    roots: np.ndarray  # (classes * trees_per_class,) int64, class-major
    baseline: np.ndarray  # (classes,) float32 score before any tree
    depth: int  # steps that reach a leaf from every root

    @property
    def classes(self) -> int:
        return int(self.baseline.shape[0])

    @property
    def trees_per_class(self) -> int:
        return int(self.roots.shape[0]) // self.classes

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(rows, classes) float32 decision scores of float32 feature rows ``x`` (rows, columns)."""
        x = np.asarray(x, dtype=np.float32)
        node = np.broadcast_to(self.roots, (x.shape[0], self.roots.shape[0]))
        rows = np.arange(x.shape[0])[:, None]
        for _ in range(self.depth):
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        leaves = self.value[node].reshape(x.shape[0], self.classes, self.trees_per_class)
        return leaves.sum(axis=2, dtype=np.float32) + self.baseline

    def scaled(self, weights: np.ndarray) -> "TreeEnsemble":
        """The same trees with every class's leaves and baseline times ``weights[class]`` (a blend weight
        folded into the trees, so the graph adds their output unchanged)."""
        weights = np.asarray(weights, dtype=np.float64)
        per_node = np.zeros(len(self.value))
        for slot, (start, end) in enumerate(_tree_spans(self)):
            per_node[start:end] = weights[slot // self.trees_per_class]
        return TreeEnsemble(self.feature, self.threshold, self.left, self.right,
                            (self.value * per_node).astype(np.float32), self.roots,
                            (self.baseline * weights).astype(np.float32), self.depth)

    def to_arrays(self, prefix: str = "") -> Dict[str, np.ndarray]:
        return {prefix + "feature": self.feature, prefix + "threshold": self.threshold, prefix + "left": self.left,
                prefix + "right": self.right, prefix + "value": self.value, prefix + "roots": self.roots,
                prefix + "baseline": self.baseline, prefix + "depth": np.array(self.depth)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "") -> "TreeEnsemble":
        """Read back :meth:`to_arrays` (also from an ``np.load``), checking that every index is in range."""
        get = lambda name: np.asarray(arrays[prefix + name])  # noqa: E731
        trees = cls(get("feature").astype(np.int64), get("threshold").astype(np.float32), get("left").astype(np.int64),
                    get("right").astype(np.int64), get("value").astype(np.float32), get("roots").astype(np.int64),
                    get("baseline").astype(np.float32), int(get("depth")))
        trees.check()
        return trees

    def check(self, columns: int | None = None) -> None:
        """ValueError unless the arrays describe trees a walk cannot leave (shapes, index ranges)."""
        n = len(self.value)
        if not (len(self.feature) == len(self.threshold) == len(self.left) == len(self.right) == n) or n == 0:
            raise ValueError("tree arrays differ in length")
        for name, index in (("left", self.left), ("right", self.right), ("roots", self.roots)):
            if index.size and (index.min() < 0 or index.max() >= n):
                raise ValueError(f"tree {name} index out of range")
        if self.classes == 0 or len(self.roots) % self.classes or self.depth < 0:
            raise ValueError("tree roots do not split evenly over the classes")
        if self.feature.min() < 0 or (columns is not None and self.feature.max() >= columns):
            raise ValueError("tree feature index out of range")


def acgt_rows(k: int) -> np.ndarray:
    """Base-5 indices (A C G T N) of the 4**k N-free k-mers, in base-4 order (the regression's columns)."""
    digits = (np.arange(4**k)[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4
    return digits @ BASE ** np.arange(k - 1, -1, -1)


def frequencies_from_counts(counts: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """(rows, 5**K) counts of the K-mer ending at each position (K = max(ks), base 5, N and
    padding as N) -> (rows, sum 4**k) float32 N-free k-mer frequencies per k, as the graph
    computes them: a k's counts are the K-mer counts summed over their first K - k letters."""
    widest = max(ks)
    counts = np.asarray(counts, dtype=np.float32).reshape(-1, BASE**widest)
    blocks: List[np.ndarray] = []
    for k in ks:
        own = counts.reshape(len(counts), -1, BASE**k).sum(axis=1, dtype=np.float32)[:, acgt_rows(k)]
        total = own.sum(axis=1, keepdims=True, dtype=np.float32)
        blocks.append(own / np.maximum(total, np.float32(1.0)))
    return np.concatenate(blocks, axis=1).astype(np.float32)


# ONNX-ML ``TreeEnsembleRegressor`` (domain ai.onnx.ml, version 3): how the graph runs the trees.
TREE_OP = "TreeEnsembleRegressor"
TREE_DOMAIN = "ai.onnx.ml"


def _tree_spans(trees: TreeEnsemble) -> List[tuple]:
    """(start, end) of each tree's contiguous node block, in root (slot) order."""
    ends = np.append(trees.roots[1:], len(trees.value))
    if not (np.all(np.diff(trees.roots) > 0) and trees.roots[0] == 0):
        raise ValueError("trees must be stored as contiguous node blocks in slot order")
    return list(zip(trees.roots.tolist(), ends.tolist()))


def onnx_attributes(trees: TreeEnsemble) -> Dict[str, list]:
    """The ``TreeEnsembleRegressor`` attributes of ``trees`` (plain lists): one ONNX tree per
    slot but the padding (single leaves worth 0), trees numbered 0, 1, ... class by class, node
    ids local to their tree, ``BRANCH_LEQ`` tests, one target per class.

    Why the ML operator and not a walk in standard ops: ONNX Runtime walks each tree only
    along the record's path in compiled code, while a walk in Gather/Where touches every
    node of every tree; on 300-nt records the latter made the whole default 3-4x slower."""
    attrs: Dict[str, list] = {key: [] for key in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    per_class = trees.trees_per_class
    t = 0
    for slot, (start, end) in enumerate(_tree_spans(trees)):
        if end - start == 1 and trees.value[start] == 0:
            continue  # padding: adds nothing
        for node in range(start, end):
            leaf = trees.left[node] == node and trees.right[node] == node
            attrs["nodes_treeids"].append(t)
            attrs["nodes_nodeids"].append(node - start)
            attrs["nodes_featureids"].append(0 if leaf else int(trees.feature[node]))
            attrs["nodes_values"].append(0.0 if leaf else float(trees.threshold[node]))
            attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            attrs["nodes_truenodeids"].append(0 if leaf else int(trees.left[node]) - start)
            attrs["nodes_falsenodeids"].append(0 if leaf else int(trees.right[node]) - start)
            if leaf:
                attrs["target_treeids"].append(t)
                attrs["target_nodeids"].append(node - start)
                attrs["target_ids"].append(slot // per_class)
                attrs["target_weights"].append(float(trees.value[node]))
        t += 1
    attrs["base_values"] = [float(b) for b in trees.baseline]
    attrs["n_targets"] = trees.classes
    attrs["aggregate_function"] = "SUM"
    attrs["post_transform"] = "NONE"
    return attrs


def from_onnx_attributes(attrs: Dict[str, object], depth: int) -> TreeEnsemble:
    """:func:`onnx_attributes` read back (``attrs``: attribute name -> value, strings as str),
    every class padded again to the same number of trees; ``depth`` comes from the model's
    hparams. ValueError on what this package does not write."""
    get = lambda name: np.asarray(attrs.get(name, []))  # noqa: E731
    tree, local, modes = get("nodes_treeids").astype(np.int64), get("nodes_nodeids").astype(np.int64), list(attrs.get("nodes_modes", []))
    if attrs.get("aggregate_function", "SUM") != "SUM" or attrs.get("post_transform", "NONE") != "NONE":
        raise ValueError("tree ensemble: only a plain sum of leaf values is supported")
    if len(tree) == 0 or not (np.all(np.diff(tree) >= 0) and tree[0] == 0 and np.all(np.diff(np.unique(tree)) == 1)):
        raise ValueError("tree ensemble: trees must be numbered 0, 1, ... in node order")
    n_trees = int(tree[-1]) + 1
    starts = np.searchsorted(tree, np.arange(n_trees))
    if not np.array_equal(local, np.arange(len(tree)) - starts[tree]) or set(modes) - {"LEAF", "BRANCH_LEQ"}:
        raise ValueError("tree ensemble: nodes must be numbered within their tree in order, tests must be BRANCH_LEQ")
    leaf = np.array([m == "LEAF" for m in modes])
    target_tree, target_class = get("target_treeids").astype(np.int64), get("target_ids").astype(np.int64)
    target_nodes = starts[np.clip(target_tree, 0, n_trees - 1)] + get("target_nodeids").astype(np.int64)
    baseline = get("base_values").astype(np.float32)
    if (target_tree.min(initial=0) < 0 or target_tree.max(initial=0) >= n_trees
            or target_nodes.max(initial=0) >= len(tree) or not leaf[target_nodes].all()):
        raise ValueError("tree ensemble: a target is not a leaf")
    tree_class = np.full(n_trees, -1)
    tree_class[target_tree] = target_class
    if (tree_class < 0).any() or not np.array_equal(tree_class[target_tree], target_class) \
            or np.any(np.diff(tree_class) < 0) or tree_class.max() >= len(baseline):
        raise ValueError("tree ensemble: trees must be grouped by class, each tree within one class")
    value = np.zeros(len(tree), dtype=np.float32)
    value[target_nodes] = get("target_weights").astype(np.float32)
    own = np.arange(len(tree))
    left = np.where(leaf, own, starts[tree] + get("nodes_truenodeids").astype(np.int64))
    right = np.where(leaf, own, starts[tree] + get("nodes_falsenodeids").astype(np.int64))
    feature = np.where(leaf, 0, get("nodes_featureids").astype(np.int64))
    threshold = np.where(leaf, 0.0, get("nodes_values")).astype(np.float32)
    # re-pad: each class's trees, then single leaves worth 0 up to the largest class's count
    width = int(np.bincount(tree_class, minlength=len(baseline)).max())
    ends = np.append(starts[1:], len(tree))
    blocks, roots, at = [], [], 0
    for c in range(len(baseline)):
        mine = np.flatnonzero(tree_class == c)
        for t in list(mine) + [None] * (width - len(mine)):
            if t is None:
                blocks.append((np.zeros(1, np.int64), np.zeros(1, np.float32), np.array([at]), np.array([at]),
                               np.zeros(1, np.float32)))
                size = 1
            else:
                span = slice(starts[t], ends[t])
                shift = at - starts[t]
                blocks.append((feature[span], threshold[span], left[span] + shift, right[span] + shift, value[span]))
                size = ends[t] - starts[t]
            roots.append(at)
            at += size
    column = lambda i, dtype: np.concatenate([b[i] for b in blocks]).astype(dtype)  # noqa: E731
    trees = TreeEnsemble(column(0, np.int64), column(1, np.float32), column(2, np.int64), column(3, np.int64),
                         column(4, np.float32), np.array(roots, dtype=np.int64), baseline, int(depth))
    trees.check()
    return trees
