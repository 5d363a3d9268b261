"""The three sequence models behind one streaming interface.

``LocalizationModel(tokens, lengths, states) -> (logits, new_states)``

* ``tokens``: (batch, length) integer codes from :mod:`rnaloc_infer.alphabet` (pad = 5).
* ``lengths``: (batch,) number of real nucleotides in this call (the rest is padding).
* ``states``: carried state tensors, batch-first; all zeros at the start of a sequence.

Layout: encoder (fixed one-hot lookup, 6x5 with a zero padding row; or a k-mer embedding,
:mod:`.kmers`) -> strided "patch" convolution (kernel = stride, so it needs no carried
context and shortens the sequence ``stride``-fold) or a motif convolution max-pooled by
``stride`` -> body (QRNN layers, TCN blocks or an LSTM) -> masked mean+max pooling (+ log
length, + optional k-mer bag) -> small MLP head with one logit per class, optionally blended
with an in-graph k-mer regression (which may also read per-record features of the encoded
protein, the optional ``features`` input) and with further member networks (an ensemble,
:mod:`.ensemble`). Calling the model on
consecutive chunks whose lengths are multiples of ``stride`` gives the same logits as one
call on the whole sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnaloc_infer.alphabet import ALPHABET, PAD_CODE
from rnaloc_infer.coding import FEATURE_SET, N_FEATURES, coding_feature_matrix

from .kmers import KmerBag, KmerEmbedding, KmerFrequencyLinear
from .layers import CausalConv1d, LSTMStack, MaskedMeanMaxPool, QRNNLayer, TCNBlock

CLASSES = ("Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER")
MODEL_KINDS = ("qrnn", "tcn", "lstm")


@dataclass
class ModelConfig:
    """Hyper-parameters; stored in checkpoints and in the exported ONNX metadata."""

    kind: str = "qrnn"
    hidden: int = 64
    layers: int = 2
    stride: int = 8
    window: int = 2  # QRNN convolution width
    kernel_size: int = 3  # TCN kernel
    dropout: float = 0.1
    zoneout: float = 0.0
    # 0: "patch" front end, a convolution with kernel = stride (cheap, but position-within-patch
    # dependent). >0: a causal motif convolution of this width at full resolution, ReLU, then
    # max-pooling by ``stride`` — shift-invariant motif detectors, like a k-mer counter.
    front_kernel: int = 0
    # Encoder: 0 = one-hot; k >= 2 = k-mer embedding of ``kmer_dim`` (word2vec-initialised when
    # the training config names vectors), fine-tuned unless ``kmer_trainable`` is false.
    kmer_k: int = 0
    kmer_dim: int = 32
    kmer_trainable: bool = True
    # k-mer bag: the record's mean of a learned ``bag_dim``-vector per ``bag_k``-mer, fed to the
    # head beside the pooled features (a k-mer-frequency regression inside the model). 0 = off.
    bag_k: int = 0
    bag_dim: int = 16
    # Ensemble member: a linear model on k-mer frequencies for these k (the k-mer baseline's
    # logistic regression), blended with the network's logits. Filled by `rnaloc-train
    # ensemble` from a fitted regression; empty (off) for training.
    linear_ks: List[int] = field(default_factory=list)
    # Further trained networks blended with this one (an ensemble of networks, filled by
    # `rnaloc-train ensemble`): plain ModelConfig dicts with the same stride and classes.
    members: List[dict] = field(default_factory=list)
    # Per-record features of the encoded protein (rnaloc_infer.coding) added to the regression
    # member's score: "" (off) or the feature set's name. The runtime computes them with numpy
    # and feeds them as the graph's ``features`` input.
    features: str = ""
    # The same per-record features fed to the network's head too (standardised with the train
    # split's mean and scale, stored in the model), so the network itself learns from the
    # encoded protein: "" (off) or the feature set's name.
    head_features: str = ""
    classes: List[str] = field(default_factory=lambda: list(CLASSES))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _one_hot_table() -> Tensor:
    table = torch.zeros(PAD_CODE + 1, len(ALPHABET))
    table[: len(ALPHABET)] = torch.eye(len(ALPHABET))
    return table


class LocalizationModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {config.kind!r}; expected one of {MODEL_KINDS}")
        self.config = config
        self.stride = config.stride
        hidden = config.hidden
        self.register_buffer("one_hot", _one_hot_table(), persistent=False)
        self.kmer: Optional[KmerEmbedding] = None
        channels = len(ALPHABET)
        if config.kmer_k > 0:
            self.kmer = KmerEmbedding(config.kmer_k, config.kmer_dim, config.kmer_trainable)
            channels = config.kmer_dim
        self.bag: Optional[KmerBag] = KmerBag(config.bag_k, config.bag_dim) if config.bag_k > 0 else None
        self.motif: Optional[CausalConv1d] = None
        if config.front_kernel > 0:
            self.motif = CausalConv1d(channels, hidden, config.front_kernel)
            self.front = nn.Identity()
        else:
            self.front = nn.Conv1d(channels, hidden, kernel_size=config.stride, stride=config.stride)
        if config.kind == "qrnn":
            self.body = nn.ModuleList(
                QRNNLayer(hidden, hidden, config.window, config.zoneout, config.dropout) for _ in range(config.layers)
            )
        elif config.kind == "tcn":
            self.body = nn.ModuleList(
                TCNBlock(hidden, 2**i, config.kernel_size, config.dropout) for i in range(config.layers)
            )
        else:
            self.body = nn.ModuleList([LSTMStack(hidden, hidden, config.layers, config.dropout)])
        self.pool = MaskedMeanMaxPool(hidden)
        n_classes = len(config.classes)
        self.linear = nn.ModuleList(KmerFrequencyLinear(k, n_classes) for k in config.linear_ks)
        self.members = nn.ModuleList(LocalizationModel(_member_config(m, config)) for m in config.members)
        # logits = blend[0] * network + blend[1] * (sum of linear scores + linear_offset) + blend[2]
        #          + sum_i blend[3 + i] * member_i;
        # saved only when the ensemble is on, so plain checkpoints keep their exact keys.
        self.blended = len(config.linear_ks) > 0 or len(config.members) > 0
        blend = torch.zeros(3 + len(config.members), n_classes)
        blend[0] = 1.0
        self.register_buffer("blend", blend, persistent=self.blended)
        self.register_buffer("linear_offset", torch.zeros(n_classes), persistent=self.blended)
        for name in (config.features, config.head_features):
            if name not in ("", FEATURE_SET):
                raise ValueError(f"unknown feature set {name!r}; this version knows {FEATURE_SET!r}")
        if config.features and not config.linear_ks:
            raise ValueError("per-record features feed the k-mer regression member: set linear_ks too")
        wanted = bool(config.features or config.head_features) or any(m.n_features for m in self.members)
        self.n_features = N_FEATURES if wanted else 0  # the width of the ``features`` input
        self.register_buffer("feature_weights", torch.zeros(n_classes, N_FEATURES if config.features else 0),
                             persistent=bool(config.features))
        self.n_head_features = N_FEATURES if config.head_features else 0
        self.register_buffer("feature_mean", torch.zeros(self.n_head_features), persistent=self.n_head_features > 0)
        self.register_buffer("feature_scale", torch.ones(self.n_head_features), persistent=self.n_head_features > 0)
        features = 2 * hidden + 1 + (config.bag_dim if self.bag is not None else 0) + self.n_head_features
        self.head = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(hidden, len(config.classes))
        )
        # Where each network's states sit in the flat list (see ``state_shapes``), fixed here so
        # TorchScript sees plain integers.
        self.own_half = len(self._own_state_shapes()) - self._own_fp32_count()
        self.own_fp32 = self._own_fp32_count()
        self.members_half = sum(m.own_half for m in self.members)

    @torch.jit.unused
    def state_shapes(self) -> List[List[int]]:
        """Per-state shapes without the batch axis, in the order ``forward`` uses them.

        With member networks: every network's half-precision-safe states first (this one's,
        then each member's), then every network's fp32 accumulators in the same order, so the
        fp16 export can keep one trailing block in fp32.
        """
        own = self._own_state_shapes()
        shapes = own[: self.own_half]
        for member in self.members:
            shapes.extend(member.state_shapes()[: member.own_half])
        shapes.extend(own[self.own_half :])
        for member in self.members:
            shapes.extend(member.state_shapes()[member.own_half :])
        return shapes

    @torch.jit.unused
    def _own_state_shapes(self) -> List[List[int]]:
        shapes: List[List[int]] = []
        if self.kmer is not None:
            shapes.extend(self.kmer.state_shapes())
        if self.bag is not None:
            shapes.extend(self.bag.context_shapes())
        for member in self.linear:
            shapes.extend(member.context_shapes())
        if self.motif is not None:
            shapes.append([self.motif.in_channels, self.motif.context])
        for layer in self.body:
            shapes.extend(layer.state_shapes())
        return shapes + self.pool.state_shapes() + self.accumulator_shapes()

    @torch.jit.unused
    def accumulator_shapes(self) -> List[List[int]]:
        """Trailing states beyond the pooling's that must stay fp32 (sums over a whole record)."""
        shapes = [] if self.bag is None else self.bag.accumulator_shapes()
        for member in self.linear:
            shapes.extend(member.accumulator_shapes())
        return shapes

    @torch.jit.unused
    def _own_fp32_count(self) -> int:
        return len(self.pool.state_shapes()) + len(self.accumulator_shapes())

    @torch.jit.unused
    def fp32_state_count(self) -> int:
        """How many trailing states are accumulators kept in fp32 by the fp16 export."""
        return self.own_fp32 + sum(m.own_fp32 for m in self.members)

    @torch.jit.unused
    def zero_states(self, batch: int, device: Optional[torch.device] = None) -> List[Tensor]:
        return [torch.zeros([batch] + shape, device=device) for shape in self.state_shapes()]

    @torch.jit.unused
    def receptive_field(self) -> int:
        """Nucleotides of past context one output step can see (the pooling then sees all)."""
        cfg = self.config
        if cfg.kind == "tcn":
            steps = 1 + sum(2 * (cfg.kernel_size - 1) * 2**i for i in range(cfg.layers))
        elif cfg.kind == "qrnn":
            return -1  # recurrent: unbounded
        else:
            return -1
        return steps * cfg.stride

    def forward(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                features: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        """``features``: (batch, n_features) per-record features, required when the config names a set."""
        if len(self.members) == 0:
            return self._forward_own(tokens, lengths, states, features)
        half_at, fp32_at = self.own_half, self.own_half + self.members_half
        logits, own_new = self._forward_own(
            tokens, lengths, states[:half_at] + states[fp32_at : fp32_at + self.own_fp32], features)
        halves: List[Tensor] = own_new[: self.own_half]
        fp32s: List[Tensor] = own_new[self.own_half :]
        fp32_at += self.own_fp32
        blend = self.blend.float()
        for i, member in enumerate(self.members):
            half, fp32 = member.own_half, member.own_fp32
            member_logits, member_new = member(
                tokens, lengths, states[half_at : half_at + half] + states[fp32_at : fp32_at + fp32], features)
            logits = logits + blend[3 + i] * member_logits.float()
            halves.extend(member_new[:half])
            fp32s.extend(member_new[half:])
            half_at += half
            fp32_at += fp32
        return logits, halves + fp32s

    def _forward_own(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                     record_features: Optional[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        valid = torch.arange(tokens.size(1), device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1)
        new_states: List[Tensor] = []
        index = 0
        if self.kmer is not None:
            x, kmer_ctx = self.kmer(tokens, valid, states[index])
            new_states.append(kmer_ctx)
            index += 1
        else:
            x = self.one_hot[tokens.long()].transpose(1, 2)
        bag_ctx_index = -1
        if self.bag is not None:
            bag_ctx_index = index
            index += 1
        linear_ctx_index = index
        index += len(self.linear)
        if self.motif is not None:
            # Motif scores at every nucleotide; padding positions are zeroed so a record scores
            # the same alone or beside longer ones, then max-pooled in windows of ``stride``.
            x, ctx = self.motif(x, states[index])
            x = F.relu(x) * valid.unsqueeze(1).to(x.dtype)
            x = F.max_pool1d(F.pad(x, (0, self.stride - 1)), self.stride, self.stride)
            new_states.append(ctx)
            index += 1
        else:
            # Pad by stride-1 so a ragged tail still forms one (partly empty) patch: ceil(T / stride) steps.
            x = F.relu(self.front(F.pad(x, (0, self.stride - 1))))
        steps = torch.div(lengths + (self.stride - 1), self.stride, rounding_mode="floor")
        positions = torch.arange(x.size(2), device=x.device)
        mask = (positions.unsqueeze(0) < steps.unsqueeze(1)).unsqueeze(1)
        for layer in self.body:
            x, layer_states = layer(x, mask, states[index : index + 2])
            new_states.extend(layer_states)
            index += 2
        features, pool_states = self.pool(x, mask, states[index : index + 3])
        new_states.extend(pool_states)
        accumulator_index = index + 3
        if self.bag is not None:
            bag_features, bag_ctx, bag_acc = self.bag(tokens, valid, states[bag_ctx_index], states[accumulator_index])
            features = torch.cat([features, bag_features], dim=1)
            new_states.insert(bag_ctx_index, bag_ctx)
            new_states.append(bag_acc)
            accumulator_index += 1
        if self.n_head_features > 0:
            if record_features is None:
                raise RuntimeError("this model needs the per-record features input")
            standardised = (record_features.float() - self.feature_mean.float()) / self.feature_scale.float()
            features = torch.cat([features, standardised.clamp(-8.0, 8.0).to(features.dtype)], dim=1)
        logits = self.head(features)
        if self.blended:
            linear_score = self.linear_offset.float().unsqueeze(0)
            for i, member in enumerate(self.linear):
                score, ctx, acc = member(tokens, valid, states[linear_ctx_index + i], states[accumulator_index + i])
                linear_score = linear_score + score
                new_states.insert(linear_ctx_index + i, ctx)
                new_states.append(acc)
            if self.feature_weights.size(1) > 0:
                if record_features is None:
                    raise RuntimeError("this model needs the per-record features input")
                linear_score = linear_score + record_features.float() @ self.feature_weights.float().t()
            blend = self.blend.float()
            logits = blend[0] * logits.float() + blend[1] * linear_score + blend[2]
        return logits, new_states

    @torch.jit.unused
    def predict_logits(self, tokens: Tensor, lengths: Tensor, features: Optional[Tensor] = None) -> Tensor:
        """One-shot logits from zero state (what training and evaluation call).

        ``features``: per-record features of the *whole* records; computed from ``tokens`` when
        left out, so pass them when ``tokens`` are truncated (training).
        """
        if features is None:
            features = self.record_features(tokens, lengths)
        logits, _ = self.forward(tokens, lengths, self.zero_states(tokens.size(0), tokens.device), features)
        return logits

    @torch.jit.unused
    def record_features(self, tokens: Tensor, lengths: Tensor) -> Optional[Tensor]:
        """The per-record features of whole records (padded batch), or None if the model has none."""
        if self.n_features == 0:
            return None
        rows = tokens.cpu().numpy()
        matrix = coding_feature_matrix([row[:n] for row, n in zip(rows, lengths.tolist())])
        return torch.from_numpy(matrix).to(tokens.device)


def _member_config(values: dict, parent: ModelConfig) -> ModelConfig:
    """A member network's config, checked against the ensemble it joins."""
    config = ModelConfig.from_dict(values)
    if config.members or config.linear_ks:
        raise ValueError("an ensemble member must be a plain network (no members or k-mer regression of its own)")
    if config.stride != parent.stride:
        raise ValueError(f"member stride {config.stride} differs from the ensemble's {parent.stride}: chunks must align")
    if list(config.classes) != list(parent.classes):
        raise ValueError(f"member classes {config.classes} differ from the ensemble's {parent.classes}")
    return config


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
