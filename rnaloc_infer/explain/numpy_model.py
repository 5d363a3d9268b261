"""A numpy copy of QRNN models' weights, and their forward pass, for fast exact ISM.

Why: ISM of the bundled QRNN models through ONNX Runtime must run every variant to the end
of the record (their cells never forget a mutation, docs/EXPLAIN.md), yet most of that
work is linear or repeated: :mod:`.numpy_ism` exploits the structure, which needs the
weights as arrays. The lean runtime has neither torch nor the ``onnx`` package, so the
weights travel in a *companion* file beside the model, ``<model>.ism.npz``, written by
``rnaloc_infer.export.ism_weights`` from the .onnx itself and carrying that file's SHA-256:
a companion that does not match its model is ignored (logged), and explain falls back to
the ONNX Runtime path, which serves every model.

Supported: networks of QRNN layers (1 or 2, convolution window 2) on a one-hot encoder
with a motif (causal convolution, ReLU, max-pool by stride) or patch front end, masked
mean+max pooling, optional standardised coding features in the head; alone or blended with
further such networks, the k-mer regression (k-mer frequencies + coding features) and the
forest (gradient-boosted trees on k-mer frequencies + a per-record feature set, :mod:`rnaloc_infer.trees`),
and optionally a class-mixing map applied last (:class:`ClassMixing`).
The networks and the regression read the leading ``coding-v1`` columns of the model's feature
set; the forest reads all of its set (``coding-v1``, or ``coding-utr-v1`` with the UTR k-mers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..features.registry import CODING, check_feature_set, feature_width
from ..output.npz_json import load_npz, save_npz
from ..modelfile.digest import file_sha256
from ..trees import BASE, TreeEnsemble, frequencies_from_counts

log = logging.getLogger(__name__)

COMPANION_SUFFIX = ".ism.npz"
FORMAT_VERSION = 1  # companions without a forest: the same bytes as before the forest existed
FOREST_FORMAT_VERSION = 2  # with a forest: older engines reject the file (ONNX path) rather than drop the trees
# with a forest reading a wider feature set than coding-v1 (named in ``forest.features``): engines
# that predate the set reject the file rather than feed its trees 91 columns
FEATURE_SET_FORMAT_VERSION = 3
# with a class-mixing map after the blend: engines that predate it reject the file rather than
# give unmixed probabilities (companions without one keep their version and bytes)
MIXING_FORMAT_VERSION = 4
FORMAT_VERSIONS = (FORMAT_VERSION, FOREST_FORMAT_VERSION, FEATURE_SET_FORMAT_VERSION, MIXING_FORMAT_VERSION)
N_ONE_HOT = 5  # A, C, G, T, N; the padding code is a zero row


def companion_path(model_path: Path) -> Path:
    """``model.onnx`` -> ``model.ism.npz`` (beside it)."""
    name = model_path.name[: -len(".onnx")] if model_path.name.endswith(".onnx") else model_path.name
    return model_path.with_name(name + COMPANION_SUFFIX)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * x)


@dataclass
class QrnnNetwork:
    """One network's weights. Gate rows of every layer: Z, F, O (``hidden`` each)."""

    front_w: np.ndarray  # (kernel, 5, hidden): weight of each one-hot channel at each tap
    front_b: np.ndarray  # (hidden,)
    motif: bool  # True: causal motif conv + ReLU + max-pool by stride; False: patch conv (kernel = stride)
    layers: List[tuple]  # per QRNN layer: (w_prev (in, 3h), w_now (in, 3h), bias (3h,))
    head: tuple  # (w0 (features, hidden), b0, w1 (hidden, classes), b1)
    feature_mean: Optional[np.ndarray]  # standardisation of the head's coding features, or None
    feature_scale: Optional[np.ndarray]
    blend: np.ndarray  # (classes,) weight of this network's logits

    @property
    def hidden(self) -> int:
        return self.front_b.shape[0]

    @property
    def kernel(self) -> int:
        return self.front_w.shape[0]


@dataclass
class KmerRegression:
    ks: List[int]
    tables: List[np.ndarray]  # per k: (5**k, classes + 1); last column counts N-free windows
    offset: np.ndarray  # (classes,)
    feature_weights: Optional[np.ndarray]  # (classes, n_features) or None
    blend: np.ndarray  # (classes,)


@dataclass
class NumpyForest:
    """The forest member (training/forest.py): trees on the N-free k-mer frequencies (``ks``) of
    the record's 5-mer counts and the per-record feature set ``features``; its blend weight is
    in its leaves."""

    ks: List[int]
    trees: TreeEnsemble
    features: str = CODING  # rnaloc_infer.features.registry; companions before version 3 read coding-v1

    @property
    def widest_k(self) -> int:
        return max(self.ks)

    @property
    def feature_columns(self) -> int:
        return feature_width(self.features)

    @property
    def columns(self) -> int:
        return sum(4**k for k in self.ks) + self.feature_columns


@dataclass
class ClassMixing:
    """The ensemble's class-mixing map (training/ensemble_model.py ``ClassMixing``): the final
    logits are ``blended @ matrix + bias``, every class's output reading every class's blended
    log-odds. Linear on the whole logit vector, so every engine applies it once, after all the
    parts and the blend bias are summed, before the sigmoid."""

    matrix: np.ndarray  # (classes in, classes out) float32, as in the graph
    bias: np.ndarray  # (classes,) float32

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """(..., classes) float64 mixed logits of (..., classes) blended ones."""
        return np.asarray(logits, dtype=np.float64) @ self.matrix.astype(np.float64) + self.bias.astype(np.float64)


@dataclass
class NumpyModel:
    networks: List[QrnnNetwork]
    regression: Optional[KmerRegression]
    bias: np.ndarray  # (classes,) added to the blended logits
    stride: int
    forest: Optional[NumpyForest] = None
    mixing: Optional[ClassMixing] = None  # applied to the blended logits, last

    # -- serialisation --------------------------------------------------------------------
    def to_arrays(self) -> Dict[str, np.ndarray]:
        out: Dict[str, np.ndarray] = {"stride": np.array(self.stride), "bias": self.bias,
                                      "n_networks": np.array(len(self.networks))}
        for i, net in enumerate(self.networks):
            p = f"net{i}."
            out.update({p + "front_w": net.front_w, p + "front_b": net.front_b, p + "motif": np.array(net.motif),
                        p + "n_layers": np.array(len(net.layers)), p + "blend": net.blend})
            for j, (w_prev, w_now, b) in enumerate(net.layers):
                out.update({f"{p}layer{j}.w_prev": w_prev, f"{p}layer{j}.w_now": w_now, f"{p}layer{j}.b": b})
            for j, a in enumerate(net.head):
                out[f"{p}head{j}"] = a
            if net.feature_mean is not None:
                out[p + "feature_mean"], out[p + "feature_scale"] = net.feature_mean, net.feature_scale
        if self.regression is not None:
            reg = self.regression
            out.update({"reg.ks": np.array(reg.ks), "reg.offset": reg.offset, "reg.blend": reg.blend})
            for k, table in zip(reg.ks, reg.tables):
                out[f"reg.table{k}"] = table
            if reg.feature_weights is not None:
                out["reg.feature_weights"] = reg.feature_weights
        if self.forest is not None:
            out["forest.ks"] = np.array(self.forest.ks)
            if self.forest.features != CODING:  # absent: coding-v1 (version 2 files keep their bytes)
                out["forest.features"] = np.array(self.forest.features)
            out.update(self.forest.trees.to_arrays("forest."))
        if self.mixing is not None:  # absent otherwise: older companions keep their bytes
            out["mixing.matrix"], out["mixing.bias"] = self.mixing.matrix, self.mixing.bias
        return out

    @classmethod
    def from_arrays(cls, a) -> "NumpyModel":
        networks = []
        for i in range(int(a["n_networks"])):
            p = f"net{i}."
            layers = [(a[f"{p}layer{j}.w_prev"], a[f"{p}layer{j}.w_now"], a[f"{p}layer{j}.b"])
                      for j in range(int(a[p + "n_layers"]))]
            mean = a[p + "feature_mean"] if p + "feature_mean" in a else None
            scale = a[p + "feature_scale"] if p + "feature_scale" in a else None
            networks.append(QrnnNetwork(a[p + "front_w"], a[p + "front_b"], bool(a[p + "motif"]), layers,
                                        tuple(a[f"{p}head{j}"] for j in range(4)), mean, scale, a[p + "blend"]))
        regression = None
        if "reg.ks" in a:
            ks = [int(k) for k in a["reg.ks"]]
            regression = KmerRegression(ks, [a[f"reg.table{k}"] for k in ks], a["reg.offset"],
                                        a["reg.feature_weights"] if "reg.feature_weights" in a else None, a["reg.blend"])
        forest = None
        if "forest.ks" in a:
            features = str(a["forest.features"]) if "forest.features" in a else CODING
            check_feature_set(features)  # a set this version lacks: ValueError, the ONNX path
            forest = NumpyForest([int(k) for k in a["forest.ks"]], TreeEnsemble.from_arrays(a, "forest."), features)
            forest.trees.check(forest.columns)  # a walk must not read past the k-mer and feature columns
        mixing = None
        if "mixing.matrix" in a:
            n = len(a["bias"])
            mixing = ClassMixing(a["mixing.matrix"], a["mixing.bias"])
            if mixing.matrix.shape != (n, n) or mixing.bias.shape != (n,):
                raise ValueError(f"class mixing of shape {mixing.matrix.shape} + {mixing.bias.shape} for {n} classes")
        return cls(networks, regression, a["bias"], int(a["stride"]), forest, mixing)

    @property
    def format_version(self) -> int:
        if self.mixing is not None:
            return MIXING_FORMAT_VERSION
        if self.forest is None:
            return FORMAT_VERSION
        return FOREST_FORMAT_VERSION if self.forest.features == CODING else FEATURE_SET_FORMAT_VERSION

    @property
    def needs_features(self) -> bool:
        return (any(n.feature_mean is not None for n in self.networks)
                or (self.regression is not None and self.regression.feature_weights is not None)
                or self.forest is not None)

    # -- forward --------------------------------------------------------------------------
    def logits(self, codes: np.ndarray, features: Optional[np.ndarray]) -> np.ndarray:
        """(classes,) float64 logits of one whole record (uint8 codes)."""
        total = self.bias.astype(np.float64).copy()
        for net in self.networks:
            trace = network_trace(net, codes, self.stride)
            pooled = pooled_features(trace.h[-1].sum(axis=0, dtype=np.float64)[None], trace.h[-1].max(axis=0)[None],
                                     trace.steps)
            total += net.blend * head_logits(net, pooled, None if features is None else features[None])[0]
        if self.regression is not None:
            total += self.regression.blend * regression_score(self.regression, codes, features)
        if self.forest is not None:  # already weighted: its leaves carry the blend
            total += forest_scores(self.forest, forest_counts(self.forest, codes)[None],
                                   None if features is None else features[None])[0]
        return self.mixed(total)

    def mixed(self, blended: np.ndarray) -> np.ndarray:
        """The final logits (..., classes) from the blended ones (every part and the bias summed):
        through the class-mixing map where the model has one, else as they are."""
        return blended if self.mixing is None else self.mixing.apply(blended)

    def probs(self, codes: np.ndarray, features: Optional[np.ndarray]) -> np.ndarray:
        return sigmoid(self.logits(codes, features)).astype(np.float32)


@dataclass
class Trace:
    """A network run over a whole record, every intermediate kept (pooled-step resolution)."""

    pre: np.ndarray  # (length, hidden) front pre-activations (motif: per nucleotide; patch: per step)
    x: np.ndarray  # (steps, hidden) front output
    gates: List[np.ndarray]  # per layer (steps, 3h) pre-activations
    c: List[np.ndarray]  # per layer (steps, h) cells
    h: List[np.ndarray]  # per layer (steps, h) outputs
    steps: int


def front_pre(net: QrnnNetwork, codes: np.ndarray, stride: int) -> np.ndarray:
    """Front convolution before ReLU: per nucleotide (motif) or per step (patch)."""
    n = len(codes)
    k = net.kernel
    one = np.minimum(codes, N_ONE_HOT - 1).astype(np.int64)
    if net.motif:
        pre = np.repeat(net.front_b[None, :].astype(np.float32), n, axis=0)
        for tap in range(k):
            shift = k - 1 - tap  # this tap reads the nucleotide `shift` positions back
            if shift < n:
                pre[shift:] += net.front_w[tap][one[: n - shift]]
        return pre
    steps = -(-n // stride)
    padded = np.full(steps * stride, -1, dtype=np.int64)
    padded[:n] = one
    windows = padded.reshape(steps, stride)
    pre = np.repeat(net.front_b[None, :].astype(np.float32), steps, axis=0)
    for tap in range(stride):
        real = windows[:, tap] >= 0
        pre[real] += net.front_w[tap][windows[real, tap]]
    return pre


def front_x(net: QrnnNetwork, pre: np.ndarray, stride: int) -> np.ndarray:
    """Front output per pooled step from :func:`front_pre`."""
    relu = np.maximum(pre, 0.0)
    if not net.motif:
        return relu
    n = len(pre)
    steps = -(-n // stride)
    padded = np.zeros((steps * stride, pre.shape[1]), dtype=np.float32)
    padded[:n] = relu
    return padded.reshape(steps, stride, -1).max(axis=1)


def gate_values(g: np.ndarray, hidden: int) -> tuple:
    z = np.tanh(g[..., :hidden])
    f = sigmoid(g[..., hidden : 2 * hidden])
    o = sigmoid(g[..., 2 * hidden :])
    return z, f, o


def network_trace(net: QrnnNetwork, codes: np.ndarray, stride: int) -> Trace:
    pre = front_pre(net, codes, stride)
    x = front_x(net, pre, stride)
    steps = x.shape[0]
    gates, cells, outs = [], [], []
    inp = x
    hidden = net.hidden
    for w_prev, w_now, b in net.layers:
        previous = np.vstack([np.zeros((1, inp.shape[1]), np.float32), inp[:-1]])
        g = (previous @ w_prev + inp @ w_now + b).astype(np.float32)
        z, f, o = gate_values(g, hidden)
        c = np.empty((steps, hidden), dtype=np.float32)
        state = np.zeros(hidden, dtype=np.float32)
        drive = (1.0 - f) * z
        for t in range(steps):
            state = f[t] * state + drive[t]
            c[t] = state
        gates.append(g)
        cells.append(c)
        outs.append(o * c)
        inp = outs[-1]
    return Trace(pre, x, gates, cells, outs, steps)


def pooled_features(total: np.ndarray, maximum: np.ndarray, steps: int) -> np.ndarray:
    """(rows, 2h + 1) head input from pooled sums and maxima over ``steps`` steps."""
    rows = total.shape[0]
    return np.concatenate([(total / steps).astype(np.float32), maximum.astype(np.float32),
                           np.full((rows, 1), np.log1p(steps), dtype=np.float32)], axis=1)


def head_logits(net: QrnnNetwork, pooled: np.ndarray, features: Optional[np.ndarray]) -> np.ndarray:
    """(rows, classes) float64 logits of the network's MLP head (its features: the leading
    coding-v1 columns of the model's set)."""
    if net.feature_mean is not None:
        own = features[..., : net.feature_mean.shape[-1]].astype(np.float32)
        standard = np.clip((own - net.feature_mean) / net.feature_scale, -8.0, 8.0)
        pooled = np.concatenate([pooled, standard.astype(np.float32)], axis=1)
    w0, b0, w1, b1 = net.head
    hidden = np.maximum(pooled @ w0 + b0, 0.0)
    return (hidden @ w1 + b1).astype(np.float64)


def kmer_indices(codes: np.ndarray, k: int) -> np.ndarray:
    """Index of the k-mer ending at each position (before the record start and N count as N)."""
    digits = np.concatenate([np.full(k - 1, 4, dtype=np.int64), np.minimum(codes, 4).astype(np.int64)])
    index = np.zeros(len(codes), dtype=np.int64)
    for j in range(k):
        index = index * 5 + digits[j : j + len(codes)]
    return index


def regression_sums(reg: KmerRegression, codes: np.ndarray) -> List[np.ndarray]:
    return [table[kmer_indices(codes, k)].astype(np.float64).sum(axis=0) for k, table in zip(reg.ks, reg.tables)]


def regression_from_sums(reg: KmerRegression, sums: List[np.ndarray], features: Optional[np.ndarray]) -> np.ndarray:
    """Scores (..., classes) from per-k accumulators (..., classes + 1) and features (..., n_features;
    the regression reads the leading coding-v1 columns)."""
    score = reg.offset.astype(np.float64)
    for acc in sums:
        acc32 = acc.astype(np.float32)  # the graph keeps its accumulators in fp32
        score = score + acc32[..., :-1] / np.maximum(acc32[..., -1:], 1.0)
    if reg.feature_weights is not None:
        score = score + features[..., : reg.feature_weights.shape[1]].astype(np.float32) @ reg.feature_weights.T
    return score


def regression_score(reg: KmerRegression, codes: np.ndarray, features: Optional[np.ndarray]) -> np.ndarray:
    return regression_from_sums(reg, regression_sums(reg, codes), features)


def forest_counts(forest: NumpyForest, codes: np.ndarray) -> np.ndarray:
    """(BASE**K,) float32 counts of the K-mer ending at each position of the record (K = widest k)."""
    k = forest.widest_k
    return np.bincount(kmer_indices(codes, k), minlength=BASE**k).astype(np.float32)


def forest_scores(forest: NumpyForest, counts: np.ndarray, features: Optional[np.ndarray]) -> np.ndarray:
    """(rows, classes) float64 scores from (rows, BASE**K) counts and (rows, n_features) rows of the
    forest's feature set."""
    x = frequencies_from_counts(counts, forest.ks)
    if features is None:
        raise ValueError(f"the forest needs the {forest.features} features")
    x = np.hstack([x, forest_features(forest, features).reshape(len(x), -1)])
    return forest.trees.scores(x).astype(np.float64)


def forest_features(forest: NumpyForest, features: np.ndarray) -> np.ndarray:
    """The forest's columns (float32) of feature rows (..., width): a row narrower than its set
    was computed for another set, and would feed the trees wrong columns."""
    features = np.asarray(features, dtype=np.float32)
    if features.shape[-1] < forest.feature_columns:
        raise ValueError(f"the forest reads {forest.feature_columns} {forest.features} columns, got {features.shape[-1]}")
    return features[..., : forest.feature_columns]


def load_companion(model_path: Path) -> Optional[NumpyModel]:
    """The model's numpy weights, or None (logged) when there is no valid companion file."""
    path = companion_path(Path(model_path))
    if not path.is_file():
        log.debug("no %s: explain uses the ONNX Runtime path", path.name)
        return None
    try:
        _, arrays = load_npz(path, what="numpy ISM companion", header=False)
        if int(arrays.get("format_version", -1)) not in FORMAT_VERSIONS:
            log.info("%s: unknown format; explain uses the ONNX Runtime path", path)
            return None
        if str(arrays.get("onnx_sha256")) != file_sha256(Path(model_path)):
            log.info("%s does not match %s (stale companion); explain uses the ONNX Runtime path", path, Path(model_path).name)
            return None
        return NumpyModel.from_arrays(arrays)
    except Exception as exc:  # a damaged file must not stop explain: the ORT path is exact too
        log.info("%s unreadable (%s); explain uses the ONNX Runtime path", path, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        return None


def save_companion(model: NumpyModel, model_path: Path) -> Path:
    """Write ``<model>.ism.npz`` for ``model_path``, atomically. Its metadata (format version,
    the model's SHA-256) are arrays, not a JSON header: companions keep the bytes engines
    already read."""
    path = companion_path(Path(model_path))
    arrays = model.to_arrays()
    arrays["format_version"] = np.array(model.format_version)
    arrays["onnx_sha256"] = np.array(file_sha256(Path(model_path)))
    return save_npz(path, arrays)
