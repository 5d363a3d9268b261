"""Exact ISM of QRNN models in numpy, from the model's structure (:mod:`.numpy_model`).

Why not ONNX Runtime: the bundled QRNNs never forget a mutation within a record, so the
generic path (:mod:`.ism`) runs every variant to the end through the whole graph. Most of
that work is not needed. For a substitution at position i (pooled step s0 = i // stride):

1. **Front end**: only the nucleotides i .. i + kernel - 1 change their motif scores, so
   only the pooled steps s0 .. s0 + nx - 1 change (nx = 2 for kernel 9, stride 8; 1 for a
   patch front end). They are recomputed from the reference's pre-activations plus the
   one changed one-hot column: no convolution is rerun.
2. **Start-up**: the few steps whose first-layer gates change (s0 .. s0 + nx) and one more
   are run exactly, every layer, per variant (vectorised over all variants).
3. **First layer, linear tail**: after that its gates equal the reference's, so its cell
   difference evolves linearly and elementwise, ``dc_t = f_t * dc_{t-1}``, its output
   difference is ``o_t * dc_t``: no nonlinear work, exactly.
4. **Second layer, exact tail**: its gates take ``dc`` through one small matrix per step,
   ``dg_t = dc_{t-1} @ M_t`` with ``M_t = diag(o1_{t-1}) W_prev + diag(o1_t f1_t) W_now``
   (precomputed once from the reference), added to the reference's gates, and the layer
   runs exactly (tanh, sigmoid, fo-pooling, mean and max pooling) for all variants in
   lock-step, in blocks of rows that fit the cache, on ``workers`` threads.
5. **Convergence**: every ``CHECK_EVERY`` steps, variants whose cells of both layers are
   within ``STATE_TOLERANCE`` (1e-6, the level of float32 rounding of cells bounded by 1)
   of the reference's take the reference's remaining pooled sum and maximum instead of
   running on. A network that forgets (the bundled default's second member: every forget
   gate below ~0.62) converges within tens of steps; one that does not (its first
   network) runs to the end.
6. **k-mer regression**: only the k-mers overlapping i change; **forest**: likewise only
   the 5-mers ending at i .. i + 4 change its k-mer frequencies (the reference's row with
   those columns recomputed, in blocks of rows), and only the trees whose reference path
   tests a column whose value changed (k-mer frequency, protein feature or UTR k-mer
   frequency) are walked again; **per-record features**: each variant's own
   (:mod:`rnaloc_infer.features.variants`, of the model's set); then each head runs once on all variants.
7. **Class mixing** (where the ensemble has one): the summed logits of the record and of every
   variant pass through the map last, as in the graph (it mixes classes, so no part may be
   mixed alone).

The result equals brute force to float32 rounding (tests and benchmarks/ism_speed.py
measure it: ~2e-7 on the bundled models, against the issue's 1e-4 bound).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
from threadpoolctl import threadpool_limits

from ..trees import BASE, acgt_rows, frequencies_from_counts
from .numpy_model import (N_ONE_HOT, NumpyModel, QrnnNetwork, forest_counts, forest_features, sigmoid, gate_values,
                          head_logits, kmer_indices, network_trace, pooled_features, regression_from_sums, regression_sums)

BLOCK_ROWS = 512  # variants advanced together: a block's gate matrix (rows x 3 hidden) stays in cache
STATE_TOLERANCE = 1e-6  # a variant whose cells are this close to the reference's takes the reference's tail
CHECK_EVERY = 8  # steps between convergence checks
STARTUP_ROWS = 2048  # variants per vectorised start-up slice (bounds memory)
FOREST_ROWS = 512  # variants per forest block: their feature rows (rows x up to 3,159) and tree walks stay small
DENSE_COLUMNS = 128  # a variant moving more forest columns than this walks every tree (ORF moved, N replaced)


def changed_steps(net: QrnnNetwork, stride: int) -> int:
    """How many pooled front-end steps one substitution can change."""
    return (stride - 1 + net.kernel - 1) // stride + 1 if net.motif else 1


def _new_front(net: QrnnNetwork, stride: int, codes: np.ndarray, pre: np.ndarray, positions: np.ndarray,
               bases: np.ndarray) -> np.ndarray:
    """(variants, nx, hidden) front output of each variant at steps s0 .. s0 + nx - 1 (past the end: unused)."""
    n = len(codes)
    old = np.minimum(codes[positions], N_ONE_HOT - 1).astype(np.int64)
    new = bases.astype(np.int64)
    s0 = positions // stride
    if not net.motif:
        tap = positions - s0 * stride
        return np.maximum(pre[s0] + net.front_w[tap, new] - net.front_w[tap, old], 0.0)[:, None, :]
    nx = changed_steps(net, stride)
    width = nx * stride
    window = s0[:, None] * stride + np.arange(width)[None, :]  # nucleotide positions of the nx steps
    inside = window < n
    values = np.maximum(pre[np.minimum(window, n - 1)], 0.0)
    rows = np.arange(len(positions))
    for d in range(net.kernel):  # position i + d reads the variant through tap kernel-1-d
        p = positions + d
        ok = p < n
        tap = net.kernel - 1 - d
        col = p - s0 * stride
        r = rows[ok]
        values[r, col[ok]] = np.maximum(pre[p[ok]] + net.front_w[tap, new[ok]] - net.front_w[tap, old[ok]], 0.0)
    values[~inside] = 0.0
    return values.reshape(len(positions), nx, stride, -1).max(axis=2)


def _startup(net: QrnnNetwork, trace, x_new: np.ndarray, s0: np.ndarray, n_steps: int) -> tuple:
    """Run every layer exactly for steps s0 .. s0 + n_steps - 1 (those < steps) per variant.

    Returns (cells per layer at the last step run, pooled sum and max of the last layer
    over the steps run)."""
    steps = trace.steps
    rows = len(s0)
    hidden = net.hidden
    nx = x_new.shape[1]
    before = s0 - 1
    has_before = (before >= 0)[:, None]
    b_index = np.maximum(before, 0)
    cells = [np.where(has_before, c[b_index], 0.0).astype(np.float32) for c in trace.c]
    inputs = [trace.x] + trace.h[:-1]
    previous = [np.where(has_before, inp[b_index], 0.0).astype(np.float32) for inp in inputs]
    total = np.zeros((rows, hidden), dtype=np.float32)
    peak = np.full((rows, hidden), -np.inf, dtype=np.float32)
    for j in range(n_steps):
        t = s0 + j
        alive = (t < steps)[:, None]
        tt = np.minimum(t, steps - 1)
        inp = x_new[:, j] if j < nx else trace.x[tt]
        for layer, (w_prev, w_now, b) in enumerate(net.layers):
            g = previous[layer] @ w_prev + inp @ w_now + b
            z, f, o = gate_values(g, hidden)
            c = f * cells[layer] + (1.0 - f) * z
            cells[layer] = np.where(alive, c, cells[layer]).astype(np.float32)
            previous[layer] = inp
            inp = (o * c).astype(np.float32)
        total += np.where(alive, inp, 0.0)
        peak = np.where(alive, np.maximum(peak, inp), peak)
    return cells, total, peak


@dataclass
class _Tail:
    """What the lock-step tail of one network shares across its blocks of rows.

    Row arrays (``dc``, ``c2``, ``total``, ``peak``) hold every variant, sorted by the step
    their tail starts at (``t_start``); a block advances rows a..b, and at step t only
    those whose tail has started. ``dc`` has a last column of ones and ``mt[t]`` the
    reference's gates as its last row, so one product gives the variants' second-layer
    gates; F and O gate columns are halved, so one tanh gives all three gates
    (sigmoid(x) = 0.5 + 0.5 tanh(x / 2)); ``f1`` ends in a 1 per step."""

    t_start: np.ndarray
    steps: int
    hidden: int
    f1: np.ndarray
    o1: np.ndarray
    h1: np.ndarray  # the reference's first-layer output (one-layer networks)
    mt: Optional[np.ndarray]  # None: one layer
    c2_ref: Optional[np.ndarray]
    dc: np.ndarray
    c2: np.ndarray
    total: np.ndarray
    peak: np.ndarray
    tail_sum: np.ndarray  # (steps + 1, hidden): the reference's last-layer sum over steps t..end
    tail_max: np.ndarray  # the same for the maximum (-inf at the end)

    def run(self, a: int, b: int) -> int:
        """Advance rows a..b to the end of the record, retiring converged ones (module docstring).

        Returns the row-steps run."""
        hidden, t_start = self.hidden, self.t_start
        ends = np.searchsorted(t_start[a:b], np.arange(self.steps), side="right") + a
        buffer = np.empty((b - a, 3 * hidden), dtype=np.float32)
        first = int(t_start[a])
        lo = a  # rows before lo have converged and been completed
        work = 0
        for t in range(first, self.steps):
            e = int(ends[t])
            if lo >= e:
                continue
            work += e - lo
            d = self.dc[lo:e]
            if self.mt is None:
                d *= self.f1[t]
                h = d * self.o1[t]
                h += self.h1[t]
            else:
                g = np.matmul(d, self.mt[t], out=buffer[: e - lo])
                np.tanh(g, out=g)
                d *= self.f1[t]
                fo = g[:, hidden:]
                fo *= 0.5
                fo += 0.5
                z, f, h = g[:, :hidden], g[:, hidden : 2 * hidden], g[:, 2 * hidden :]
                c = self.c2[lo:e]
                c -= z
                c *= f
                c += z
                h *= c
            self.total[lo:e] += h
            np.maximum(self.peak[lo:e], h, out=self.peak[lo:e])
            if (t - first) % CHECK_EVERY == CHECK_EVERY - 1:
                lo = self._retire(lo, e, t)
        return work

    def _retire(self, lo: int, e: int, t: int) -> int:
        """Complete the leading rows whose cells are within STATE_TOLERANCE of the reference's
        after step t: the rest of their record is the reference's. Returns the new ``lo``."""
        done = np.abs(self.dc[lo:e, : self.hidden]).max(axis=1) <= STATE_TOLERANCE
        if self.mt is not None:
            done &= np.abs(self.c2[lo:e] - self.c2_ref[t]).max(axis=1) <= STATE_TOLERANCE
        k = len(done) if done.all() else int(np.argmin(done))
        if k:
            self.total[lo : lo + k] += self.tail_sum[t + 1]
            np.maximum(self.peak[lo : lo + k], self.tail_max[t + 1], out=self.peak[lo : lo + k])
        return lo + k


GATE_BLOCK = 32  # steps of M_t built at a time: the temporary (block, hidden, 3 hidden) stays in cache


def _gate_matrices(net: QrnnNetwork, trace, f1: np.ndarray, o1: np.ndarray) -> np.ndarray:
    """(steps, hidden + 1, 3 hidden): per step t, ``M_t`` (module docstring, step 4) and the
    reference's second-layer gates as the last row; F and O columns halved (tanh form).

    Built in place, GATE_BLOCK steps at a time, from weights halved once: the whole-array
    expression made four temporaries of the full size, and for a record with few variants
    (rnaloc-variants: tens per transcript) building M cost as much as running them. Halving
    is exact in floating point, so the matrices are bit for bit those of the plain formula."""
    hidden, steps = net.hidden, trace.steps
    w_prev, w_now, _ = net.layers[1]
    half = np.ones(3 * hidden, dtype=np.float32)
    half[hidden:] = 0.5
    w_prev, w_now = w_prev * half, w_now * half
    mt = np.empty((steps, hidden + 1, 3 * hidden), dtype=np.float32)
    mt[0, :hidden] = 0.0
    after = o1[1:] * f1[1:]
    for a in range(1, steps, GATE_BLOCK):
        b = min(a + GATE_BLOCK, steps)
        block = mt[a:b, :hidden]
        np.multiply(o1[a - 1 : b - 1, :, None], w_prev[None], out=block)
        block += after[a - 1 : b - 1, :, None] * w_now[None]
    mt[:, hidden] = trace.gates[1] * half
    return mt


def network_pools(net: QrnnNetwork, stride: int, codes: np.ndarray, positions: np.ndarray, bases: np.ndarray,
                  pool: Optional[ThreadPoolExecutor]) -> Tuple[np.ndarray, np.ndarray, int]:
    """Head inputs (pooled mean, max, log length) of the record and of every variant.

    Returns (reference (1, 2h + 1), variants (variants, 2h + 1), pooled steps run for the variants)."""
    trace = network_trace(net, codes, stride)
    steps, hidden = trace.steps, net.hidden
    last = trace.h[-1]
    prefix_sum = np.concatenate([np.zeros((1, hidden)), np.cumsum(last, axis=0, dtype=np.float64)])
    prefix_max = np.concatenate([np.full((1, hidden), -np.inf, np.float32), np.maximum.accumulate(last, axis=0)])
    reference = pooled_features(prefix_sum[-1:], prefix_max[-1:], steps)
    n_var = len(positions)
    s0 = positions // stride
    nx = changed_steps(net, stride)
    n_startup = nx + len(net.layers)  # first-layer gates change at s0 .. s0 + nx; one more for the second layer
    t_start = s0 + n_startup
    total = np.zeros((n_var, hidden), dtype=np.float32)
    peak = np.empty((n_var, hidden), dtype=np.float32)
    dc = np.zeros((n_var, hidden), dtype=np.float32)
    c2 = np.zeros((n_var, hidden), dtype=np.float32)
    for first in range(0, n_var, STARTUP_ROWS):
        part = slice(first, first + STARTUP_ROWS)
        x_new = _new_front(net, stride, codes, trace.pre, positions[part], bases[part])
        cells, total[part], peak[part] = _startup(net, trace, x_new, s0[part], n_startup)
        at = np.minimum(t_start[part], steps) - 1
        dc[part] = cells[0] - trace.c[0][at]
        if len(net.layers) == 2:
            c2[part] = cells[1]
    tail_rows = int(np.searchsorted(t_start, steps, side="left"))  # positions are sorted: a prefix
    f1 = gate_values(trace.gates[0], hidden)[1]
    o1 = sigmoid(trace.gates[0][:, 2 * hidden :])
    tail_sum = (prefix_sum[-1:] - prefix_sum).astype(np.float32)
    tail_max = np.concatenate([np.maximum.accumulate(last[::-1], axis=0)[::-1], np.full((1, hidden), -np.inf, np.float32)])
    mt = None
    if len(net.layers) == 2:
        mt = _gate_matrices(net, trace, f1, o1)
        dc = np.concatenate([dc, np.ones((n_var, 1), np.float32)], axis=1)
        f1 = np.concatenate([f1, np.ones((steps, 1), np.float32)], axis=1)
    tail = _Tail(t_start, steps, hidden, f1, o1, trace.h[0], mt, trace.c[-1], dc, c2, total, peak, tail_sum, tail_max)
    jobs = [(a, min(a + BLOCK_ROWS, tail_rows)) for a in range(0, tail_rows, BLOCK_ROWS)]
    if pool is None:
        work = sum(tail.run(*job) for job in jobs)
    else:
        work = sum(pool.map(lambda job: tail.run(*job), jobs))
    sums = prefix_sum[s0] + total
    maxima = np.maximum(prefix_max[s0], peak)
    work += int(np.minimum(steps - s0, n_startup).sum())
    return reference, pooled_features(sums, maxima, steps), work


def _regression_variants(model: NumpyModel, codes: np.ndarray, positions: np.ndarray, bases: np.ndarray) -> List[np.ndarray]:
    """Per k: (variants, classes + 1) k-mer sums of every variant (only overlapping k-mers change)."""
    reg = model.regression
    out = []
    reference = regression_sums(reg, codes)
    old = np.minimum(codes[positions], 4).astype(np.int64)
    step = bases.astype(np.int64) - old
    for k, table, ref_sum in zip(reg.ks, reg.tables, reference):
        index = kmer_indices(codes, k)
        sums = np.repeat(ref_sum[None, :], len(positions), axis=0)
        for d in range(k):  # the k-mer ending at i + d holds the variant as its digit of weight 5**d
            p = positions + d
            ok = p < len(codes)
            before = index[p[ok]]
            sums[ok] += table[before + step[ok] * 5**d].astype(np.float64) - table[before].astype(np.float64)
        out.append(sums)
    return out


@dataclass
class _ForestReference:
    """The record through the forest, and what a variant needs to reuse it."""

    x: np.ndarray  # (columns,) float32 feature row: k-mer frequencies, then the forest's feature set
    counts: List[np.ndarray]  # per k: (5**k,) float32 counts of the k-mer ending at each position
    totals: List[np.float32]  # per k: N-free k-mers (a substitution of a base keeps them)
    starts: List[int]  # per k: its first column
    columns: List[np.ndarray]  # per k: base-5 k-mer index -> its column in the k's block, -1 if it holds an N
    leaves: np.ndarray  # (trees,) float32 value of the leaf each tree reaches
    score: np.ndarray  # (1, classes) float64
    # the trees whose reference path tests each column, as lists (few per column):
    # ``path_trees[path_start[c] : path_start[c + 1]]``
    path_start: np.ndarray  # (columns + 1,) int64
    path_trees: np.ndarray  # (tests,) int64


def _forest_reference(model: NumpyModel, codes: np.ndarray, features: Optional[np.ndarray]) -> _ForestReference:
    forest = model.forest
    trees = forest.trees
    counts5 = forest_counts(forest, codes)
    x = np.concatenate([frequencies_from_counts(counts5[None], forest.ks)[0], forest_features(forest, features).reshape(-1)])
    node = trees.roots.copy()
    inner = trees.left != np.arange(len(trees.left))
    tested = []  # (column, tree) pairs as column * trees + tree
    for _ in range(trees.depth):  # the walk of trees.scores, one row, recording the columns read on the way
        testing = np.flatnonzero(inner[node])
        tested.append(trees.feature[node[testing]].astype(np.int64) * len(node) + testing)
        node = np.where(x[trees.feature[node]] <= trees.threshold[node], trees.left[node], trees.right[node])
    leaves = trees.value[node]
    score = leaves.reshape(trees.classes, -1).sum(axis=1, dtype=np.float32) + trees.baseline
    widest = forest.widest_k
    counts, totals, starts, columns = [], [], [], []
    start = 0
    for k in forest.ks:
        own = counts5.reshape(BASE ** (widest - k), BASE**k).sum(axis=0, dtype=np.float32)
        column = np.full(BASE**k, -1, dtype=np.int64)
        column[acgt_rows(k)] = np.arange(4**k)
        counts.append(own), totals.append(own[acgt_rows(k)].sum(dtype=np.float32)), starts.append(start)
        columns.append(column)
        start += 4**k
    return _ForestReference(x, counts, totals, starts, columns, leaves, score[None].astype(np.float64),
                            *_column_lists(np.concatenate(tested), len(x), len(node)))


def _column_lists(pairs: np.ndarray, n_columns: int, n_trees: int) -> tuple:
    """(start, trees): each column's trees, back to back, from (column * n_trees + tree) pairs.

    Why pairs, not a (columns, trees) bool matrix: that matrix (~4,000 x 1,812 for the
    bundled forest) cost ~20 ms per record to scan, as much as a short record's whole ISM;
    the walk tests at most trees x depth pairs."""
    key = np.unique(pairs)
    column, tree = key // n_trees, key % n_trees
    return np.concatenate([[0], np.cumsum(np.bincount(column, minlength=n_columns))]), tree


def _forest_variants(model: NumpyModel, ref: _ForestReference, codes: np.ndarray, positions: np.ndarray,
                     bases: np.ndarray, var_features: np.ndarray) -> np.ndarray:
    """(variants, classes) forest scores of every variant, exactly, in blocks of rows.

    A substitution at i moves only the K-mers ending at i .. i + K - 1 (the variant is their
    digit of weight 5**d), so a variant's feature row is the reference's with those k-mers'
    frequencies and its own per-record features (:mod:`rnaloc_infer.features.variants`); a tree whose reference
    path tests no column whose value changed reaches the reference's leaf, so only the other
    trees are walked (:func:`_trees_to_walk`). A substitution of an N changes every frequency
    (more N-free k-mers): those rows take their dense counts. Per block, only the block's
    feature rows exist (FOREST_ROWS x columns), never every variant's."""
    forest = model.forest
    trees = forest.trees
    n, n_trees = len(codes), len(trees.roots)
    widest = forest.widest_k
    index = kmer_indices(codes, widest)
    old = np.minimum(codes[positions], 4).astype(np.int64)
    step = bases.astype(np.int64) - old
    tree_class = np.arange(n_trees) // trees.trees_per_class
    n_kmer = ref.starts[-1] + 4 ** forest.ks[-1]
    out = np.empty((len(positions), trees.classes), dtype=np.float64)
    for first in range(0, len(positions), FOREST_ROWS):
        rows = np.arange(first, min(first + FOREST_ROWS, len(positions)))
        m = len(rows)
        x = np.empty((m, len(ref.x)), dtype=np.float32)
        x[:, :n_kmer] = ref.x[:n_kmer]
        x[:, n_kmer:] = forest_features(forest, var_features[rows])
        # the K-mers each variant moves: digit d of the K-mer ending at i + d (past the end: none)
        p = positions[rows, None] + np.arange(widest)[None, :]
        inside = p < n
        before = np.where(inside, index[np.minimum(p, n - 1)], 0)
        after = np.where(inside, before + step[rows, None] * BASE ** np.arange(widest)[None, :], 0)
        for k, counts, total, start, column in zip(forest.ks, ref.counts, ref.totals, ref.starts, ref.columns):
            # the k-mers ending at i .. i + k - 1: (m, 2k) indices, -1 for those moving out and +1 in
            kmers = np.concatenate([before[:, :k], after[:, :k]], axis=1) % BASE**k
            sign = np.concatenate([np.full(k, -1.0, np.float32), np.ones(k, np.float32)])
            live = np.concatenate([inside[:, :k], inside[:, :k]], axis=1)
            same = (kmers[:, :, None] == kmers[:, None, :]) & live[:, None, :]
            count = counts[kmers] + (same * sign).sum(axis=2, dtype=np.float32)
            col = column[kmers]
            r, j = np.nonzero(live & (col >= 0))
            x[r, start + col[r, j]] = count[r, j] / np.maximum(total, np.float32(1.0))
        was_n = np.flatnonzero(old[rows] == 4)
        if len(was_n):  # more N-free k-mers: every frequency changes
            counts5 = np.repeat(forest_counts(forest, codes)[None], len(was_n), axis=0)
            np.add.at(counts5, (np.repeat(np.arange(len(was_n)), widest), before[was_n].ravel()),
                      np.where(inside[was_n], np.float32(-1.0), np.float32(0.0)).ravel())
            np.add.at(counts5, (np.repeat(np.arange(len(was_n)), widest), after[was_n].ravel()),
                      np.where(inside[was_n], np.float32(1.0), np.float32(0.0)).ravel())
            x[was_n, :n_kmer] = frequencies_from_counts(counts5, forest.ks)
        r, t = np.nonzero(_trees_to_walk(x != ref.x, ref, n_trees))
        node = trees.roots[t]
        for _ in range(trees.depth):
            node = np.where(x[r, trees.feature[node]] <= trees.threshold[node], trees.left[node], trees.right[node])
        moved = (trees.value[node].astype(np.float64) - ref.leaves[t])
        out[rows] = ref.score + np.bincount(r * trees.classes + tree_class[t], weights=moved,
                                            minlength=m * trees.classes).reshape(m, trees.classes)
    return out


def _trees_to_walk(changed: np.ndarray, ref: _ForestReference, n_trees: int) -> np.ndarray:
    """(rows, trees) bool: the trees whose reference path tests a column that ``changed`` (rows,
    columns) marks in the row; the others reach the reference's leaf.

    Why per row and sparse: with the UTR k-mers a block's variants together move hundreds of
    columns, each variant only a few, and each column is tested by few trees; the (row, tree)
    pairs of each row's own columns cost what the variants move. A row moving more than
    DENSE_COLUMNS (a moved ORF or UTR bound, a replaced N) walks every tree: as cheap, and
    walking a tree again is never wrong."""
    dense = changed.sum(axis=1) > DENSE_COLUMNS
    r, c = np.nonzero(changed & ~dense[:, None])
    sizes = ref.path_start[c + 1] - ref.path_start[c]
    ends = np.cumsum(sizes)
    at = np.repeat(ref.path_start[c] - (ends - sizes), sizes) + np.arange(int(ends[-1]) if len(ends) else 0)
    walk = np.zeros((changed.shape[0], n_trees), dtype=bool)
    walk[np.repeat(r, sizes), ref.path_trees[at]] = True
    walk[dense] = True
    return walk


def explain_numpy(model: NumpyModel, codes: np.ndarray, positions: np.ndarray, bases: np.ndarray,
                  features: Optional[np.ndarray], var_features: Optional[np.ndarray], workers: int = 1) -> tuple:
    """(reference probabilities (classes,), variants' probabilities (variants, classes), pooled
    steps run for the variants, the mean over networks)."""
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        with single_threaded_blas():
            return explain_record(model, codes, positions, bases, features, var_features, pool)
    finally:
        if pool is not None:
            pool.shutdown()


def single_threaded_blas():
    """The context :func:`explain_record` must run in: BLAS on one thread.

    The products here are small (a block of rows times 64 x 192): a multi-threaded BLAS
    only adds synchronisation (measured 50x slower on a busy 2-core machine); the caller's
    worker threads share the cores instead. Entering it costs ~1 ms (threadpoolctl looks the
    libraries up), so a caller scoring many records (rnaloc-variants: one per transcript)
    enters it once around all of them."""
    return threadpool_limits(limits=1, user_api="blas")


def explain_record(model: NumpyModel, codes: np.ndarray, positions: np.ndarray, bases: np.ndarray,
                   features: Optional[np.ndarray], var_features: Optional[np.ndarray],
                   pool: Optional[ThreadPoolExecutor] = None) -> tuple:
    """:func:`explain_numpy` without its set-up, for callers that score many records: run it
    inside :func:`single_threaded_blas`; ``pool`` (None: this thread) advances blocks of rows.
    Records may run side by side on threads (numpy releases the GIL in its loops)."""
    return _explain(model, codes, positions, bases, features, var_features, pool)


def _explain(model, codes, positions, bases, features, var_features, pool) -> tuple:
    ref_logits = model.bias.astype(np.float64)[None, :].copy()
    var_logits = np.repeat(ref_logits, len(positions), axis=0)
    work = 0
    for net in model.networks:
        reference, variants, steps = network_pools(net, model.stride, codes, positions, bases, pool)
        ref_logits += net.blend * head_logits(net, reference, features)
        var_logits += net.blend * head_logits(net, variants, var_features)
        work += steps / len(model.networks)  # the mean over networks
    if model.regression is not None:
        reg = model.regression
        ref_logits += reg.blend * regression_from_sums(reg, regression_sums(reg, codes), features)
        var_logits += reg.blend * regression_from_sums(reg, _regression_variants(model, codes, positions, bases), var_features)
    if model.forest is not None:  # already weighted: its leaves carry the blend
        forest = _forest_reference(model, codes, features)
        ref_logits += forest.score
        var_logits += _forest_variants(model, forest, codes, positions, bases, var_features)
    # the class-mixing map reads every class's blended logit: after all the parts, before the sigmoid
    ref_logits, var_logits = model.mixed(ref_logits), model.mixed(var_logits)
    return sigmoid(ref_logits[0]).astype(np.float32), sigmoid(var_logits).astype(np.float32), int(work)
