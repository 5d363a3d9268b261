"""One sequence network behind the streaming interface every exported model shares.

``LocalizationModel(tokens, lengths, states, features=None) -> (logits, new_states)``

* ``tokens``: (batch, length) integer codes from :mod:`rnaloc_infer.alphabet` (pad = 5).
* ``lengths``: (batch,) number of real nucleotides in this call (the rest is padding).
* ``states``: carried state tensors, batch-first; all zeros at the start of a sequence.
* ``features``: (batch, n_features) per-record features of the encoded protein, only for a
  network whose head reads them (``head_features``).

Layout: encoder (fixed one-hot lookup, 6x5 with a zero padding row; or a k-mer embedding,
:mod:`.kmers`) -> strided "patch" convolution (kernel = stride, so it needs no carried
context and shortens the sequence ``stride``-fold) or a motif convolution max-pooled by
``stride`` -> body (QRNN layers, TCN blocks or an LSTM: the kinds of :mod:`.model_kinds`) -> masked mean+max pooling (+ log
length, + optional k-mer bag, + optional standardised protein features) -> small MLP head
with one logit per class. Calling the model on consecutive chunks whose lengths are
multiples of ``stride`` gives the same logits as one call on the whole sequence.

Several networks blended with the k-mer regression are an :class:`.ensemble_model.EnsembleModel`,
which shares :class:`StreamingModel` with this one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnaloc_infer.alphabet import ALPHABET, PAD_CODE
from rnaloc_infer.features.coding import N_FEATURES
from rnaloc_infer.features.registry import CODING, record_feature_matrix

from .kmers import KmerBag, KmerEmbedding
from .layers import CausalConv1d, MaskedMeanMaxPool
from .model_kinds import MODEL_KINDS, model_kind  # noqa: F401 (MODEL_KINDS: re-exported, its home is .model_kinds)

CLASSES = ("Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER")


@dataclass
class ModelConfig:
    """Hyper-parameters of one network; stored in checkpoints and in the exported ONNX metadata."""

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
    # Per-record features of the encoded protein (rnaloc_infer.features.coding) fed to the head
    # (standardised with the train split's mean and scale, stored in the model), so the network
    # learns from the encoded protein: "" (off) or the feature set's name. The runtime computes
    # them with numpy and feeds them as the graph's ``features`` input.
    head_features: str = ""
    classes: List[str] = field(default_factory=lambda: list(CLASSES))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Unknown keys are ignored: checkpoints of older versions carry fields since moved
        to :class:`.ensemble_model.EnsembleConfig` (empty for a plain network)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def check_head_features(name: str) -> None:
    """A network's head reads the protein features (``coding-v1``) or none; wider sets feed the
    ensemble's forest, and the head reads their first columns (rnaloc_infer.features.registry)."""
    if name not in ("", CODING):
        raise ValueError(f"a network's head reads {CODING!r} or no features, not {name!r}")


class StreamingModel(nn.Module):
    """What export and evaluation need of any model: a network or an ensemble of them.

    Subclasses define ``config`` (with ``kind``, ``stride``, ``classes``, ``to_dict``),
    ``n_features`` (width of the ``features`` input, 0 without), ``feature_set`` (its name in
    rnaloc_infer.features.registry, "" without), ``state_shapes`` and
    ``fp32_state_count`` (how many trailing states the fp16 export keeps in fp32).
    """

    @torch.jit.unused
    def state_shapes(self) -> List[List[int]]:
        raise NotImplementedError

    @torch.jit.unused
    def fp32_state_count(self) -> int:
        raise NotImplementedError

    @torch.jit.unused
    def zero_states(self, batch: int, device: Optional[torch.device] = None) -> List[Tensor]:
        return [torch.zeros([batch] + shape, device=device) for shape in self.state_shapes()]

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
        matrix = record_feature_matrix([row[:n] for row, n in zip(rows, lengths.tolist())], self.feature_set)
        return torch.from_numpy(matrix).to(tokens.device)


def _one_hot_table() -> Tensor:
    table = torch.zeros(PAD_CODE + 1, len(ALPHABET))
    table[: len(ALPHABET)] = torch.eye(len(ALPHABET))
    return table


class LocalizationModel(StreamingModel):
    # TorchScript constants: the body's slicing of the states compiles as before the registry
    __constants__ = ["states_per_layer"]

    def __init__(self, config: ModelConfig):
        super().__init__()
        kind = model_kind(config.kind)  # the body's layers and their states (.model_kinds)
        check_head_features(config.head_features)
        self.config = config
        self.stride = config.stride
        hidden = config.hidden
        self.register_buffer("one_hot", _one_hot_table(), persistent=False)
        # True in exported copies whose motif convolution reads a padding channel instead of the
        # mask multiply below (rnaloc_infer.export.pad_channel: same numbers, one pass fewer)
        self.pad_channel = False
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
        self.body = nn.ModuleList(kind.build_body(config))
        if any(len(layer.state_shapes()) != kind.states_per_layer for layer in self.body):
            raise ValueError(f"a {config.kind} body module's states differ from the {kind.states_per_layer} its kind declares")
        self.states_per_layer = kind.states_per_layer  # a plain integer: TorchScript reads it
        self.pool = MaskedMeanMaxPool(hidden)
        self.n_head_features = N_FEATURES if config.head_features else 0
        self.n_features = self.n_head_features  # the width of the ``features`` input
        self.feature_set = config.head_features
        self.register_buffer("feature_mean", torch.zeros(self.n_head_features), persistent=self.n_head_features > 0)
        self.register_buffer("feature_scale", torch.ones(self.n_head_features), persistent=self.n_head_features > 0)
        features = 2 * hidden + 1 + (config.bag_dim if self.bag is not None else 0) + self.n_head_features
        self.head = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(hidden, len(config.classes))
        )
        # Plain integers (TorchScript reads them): the states are ``n_half_states`` that fp16 may
        # hold, then ``n_fp32_states`` sums over a whole record (pooling, bag) kept in fp32.
        self.n_fp32_states = len(self.pool.state_shapes()) + len(self._accumulator_shapes())
        self.n_half_states = len(self.state_shapes()) - self.n_fp32_states

    @torch.jit.unused
    def state_shapes(self) -> List[List[int]]:
        """Per-state shapes without the batch axis, in the order ``forward`` uses them."""
        shapes: List[List[int]] = []
        if self.kmer is not None:
            shapes.extend(self.kmer.state_shapes())
        if self.bag is not None:
            shapes.extend(self.bag.context_shapes())
        if self.motif is not None:
            shapes.append([self.motif.in_channels, self.motif.context])
        for layer in self.body:
            shapes.extend(layer.state_shapes())
        return shapes + self.pool.state_shapes() + self._accumulator_shapes()

    @torch.jit.unused
    def _accumulator_shapes(self) -> List[List[int]]:
        """Trailing states beyond the pooling's that must stay fp32 (sums over a whole record)."""
        return [] if self.bag is None else self.bag.accumulator_shapes()

    @torch.jit.unused
    def fp32_state_count(self) -> int:
        return self.n_fp32_states

    def forward(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                record_features: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        """``record_features``: (batch, n_features), required when the head reads them."""
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
        if self.motif is not None:
            # Motif scores at every nucleotide; padding positions are zeroed so a record scores
            # the same alone or beside longer ones, then max-pooled in windows of ``stride``.
            x, ctx = self.motif(x, states[index])
            x = F.relu(x)
            if not self.pad_channel:
                x = x * valid.unsqueeze(1).to(x.dtype)
            x = F.max_pool1d(x, self.stride, self.stride, ceil_mode=True)
            new_states.append(ctx)
            index += 1
        else:
            # Pad by stride-1 so a ragged tail still forms one (partly empty) patch: ceil(T / stride) steps.
            x = F.relu(self.front(F.pad(x, (0, self.stride - 1))))
        steps = torch.div(lengths + (self.stride - 1), self.stride, rounding_mode="floor")
        positions = torch.arange(x.size(2), device=x.device)
        mask = (positions.unsqueeze(0) < steps.unsqueeze(1)).unsqueeze(1)
        for layer in self.body:
            x, layer_states = layer(x, mask, states[index : index + self.states_per_layer])
            new_states.extend(layer_states)
            index += self.states_per_layer
        features, pool_states = self.pool(x, mask, states[index : index + 3])
        new_states.extend(pool_states)
        if self.bag is not None:
            bag_features, bag_ctx, bag_acc = self.bag(tokens, valid, states[bag_ctx_index], states[index + 3])
            features = torch.cat([features, bag_features], dim=1)
            new_states.insert(bag_ctx_index, bag_ctx)
            new_states.append(bag_acc)
        if self.n_head_features > 0:
            if record_features is None:
                raise RuntimeError("this model needs the per-record features input")
            # a member of an ensemble whose input set is wider reads the leading coding-v1 columns
            own = record_features[:, : self.n_head_features].float()
            standardised = (own - self.feature_mean.float()) / self.feature_scale.float()
            features = torch.cat([features, standardised.clamp(-8.0, 8.0).to(features.dtype)], dim=1)
        return self.head(features), new_states


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
