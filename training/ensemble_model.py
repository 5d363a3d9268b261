"""Several networks, the k-mer regression and (optionally) a forest blended in one streaming
model (one ONNX graph).

Why a model of its own: the shipped default is an ensemble (docs/MODEL_CARD.md), but training
and the network's own code should not have to know about blending. :class:`EnsembleModel`
has the same streaming interface as a network (:class:`.models.StreamingModel`), so export,
evaluation and the runtime treat both alike; :mod:`.ensemble` builds one from trained
checkpoints, a fitted regression (:mod:`.regression`) and fitted trees (:mod:`.forest`).

``logits = blend[0] * network + blend[1] * regression + blend[2] + sum_i blend[3 + i] * member_i
+ forest`` (per class; the row order is that of the checkpoints written since ensembles exist;
the forest's weight is in its leaves). With ``class_mixing`` the per-class logits then pass
through one linear map across classes (:class:`ClassMixing`): each class's output reads every
class's blended log-odds, which is what a cross-fitted blend found to pay (docs/RESULTS.md,
"Class mixing").

State layout: every part's half-precision-safe states first (the network's, the
regression's k-mer contexts, each member's, the forest's context), then every part's fp32
sums in the same order (pooling sums, bag and regression accumulators, the forest's k-mer
counts), so the fp16 export keeps one
trailing block in fp32. The runtime does not need to know: it reads the shapes from the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from rnaloc_infer.features.coding import N_FEATURES
from rnaloc_infer.features.registry import CODING, check_feature_set, feature_width

from .forest import KmerForest
from .kmers import KmerFrequencyLinear, kmer_counts, kmer_index, vocabulary_size
from .models import LocalizationModel, ModelConfig, StreamingModel

ENSEMBLE_KEYS = ("linear_ks", "members", "features", "forest", "class_mixing")


@dataclass
class EnsembleConfig:
    """The first network's config, further member networks and the regression's shape.

    Serialised flat (the first network's fields plus ``linear_ks``, ``members``,
    ``features``), the layout checkpoints and the ``rnaloc.hparams`` metadata always had.
    """

    network: ModelConfig
    members: List[ModelConfig] = field(default_factory=list)
    # k of the k-mer frequency blocks of the regression (the k-mer baseline's, :mod:`.regression`)
    linear_ks: List[int] = field(default_factory=list)
    # "" or the per-record feature set of the graph's ``features`` input (rnaloc_infer.features.registry):
    # the regression and the networks read its leading coding-v1 columns, the forest all of it
    features: str = ""
    # {} or the forest member's shape (:class:`.forest.KmerForest`): ks, nodes, trees, depth
    forest: Dict[str, object] = field(default_factory=dict)
    # a class-mixing map after the blend (:class:`ClassMixing`); False in every file before it
    class_mixing: bool = False

    @property
    def kind(self) -> str:
        return self.network.kind

    @property
    def stride(self) -> int:
        return self.network.stride

    @property
    def classes(self) -> List[str]:
        return self.network.classes

    def to_dict(self) -> dict:
        out = {**self.network.to_dict(), "linear_ks": list(self.linear_ks),
               "members": [member.to_dict() for member in self.members], "features": self.features}
        if self.forest:  # absent otherwise: files without a forest keep their hparams byte for byte
            out["forest"] = dict(self.forest)
        if self.class_mixing:  # absent otherwise, for the same reason
            out["class_mixing"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "EnsembleConfig":
        members = []
        for values in data.get("members", []):
            if values.get("members") or values.get("linear_ks"):
                raise ValueError("an ensemble member must be a plain network (no members or k-mer regression of its own)")
            members.append(ModelConfig.from_dict(values))
        forest = dict(data.get("forest") or {})
        if forest and set(forest) != {"ks", "nodes", "trees", "depth"}:
            raise ValueError(f"forest shape needs ks, nodes, trees and depth, got {sorted(forest)}")
        mixing = data.get("class_mixing", False)
        if not isinstance(mixing, bool):
            raise ValueError(f"class_mixing must be true or false, got {mixing!r}")
        return cls(ModelConfig.from_dict(data), members, list(data.get("linear_ks", [])), data.get("features", ""), forest,
                   mixing)

    @staticmethod
    def describes(data: dict) -> bool:
        """Whether a serialised config is an ensemble (older plain checkpoints carry empty fields)."""
        return bool(data.get("linear_ks") or data.get("members"))


class KmerRegression(nn.Module):
    """The k-mer baseline's logistic regression as fixed tables: a score per class.

    ``score = offset + sum_k table_k . frequencies_k + feature_weights . features``; the
    standardisation of the fitted model is folded into the tables and the offset
    (:func:`.ensemble.with_logreg`). States: one k-mer context per k, then one fp32
    accumulator per k.
    """

    def __init__(self, ks: List[int], n_classes: int, features: str):
        super().__init__()
        self.kmers = nn.ModuleList(KmerFrequencyLinear(k, n_classes) for k in ks)
        # every k reads the counts of the longest k-mer (KmerFrequencyLinear), indexed with its context
        self.widest = max(range(len(ks)), key=lambda i: ks[i]) if ks else 0
        self.widest_k = max(ks) if ks else 1
        self.widest_vocabulary = vocabulary_size(self.widest_k)
        self.register_buffer("offset", torch.zeros(n_classes))
        self.register_buffer("feature_weights", torch.zeros(n_classes, N_FEATURES if features else 0),
                             persistent=bool(features))
        self.n_features = N_FEATURES if features else 0
        self.n_half_states = len(ks)
        self.n_fp32_states = len(ks)

    @torch.jit.unused
    def state_shapes(self) -> List[List[int]]:
        shapes: List[List[int]] = []
        for member in self.kmers:
            shapes.extend(member.context_shapes())
        for member in self.kmers:
            shapes.extend(member.accumulator_shapes())
        return shapes

    def chunk_counts(self, tokens: Tensor, lengths: Tensor, states: List[Tensor]) -> Tensor:
        """(B, 5**K) float64 counts of this call's widest k-mers (what the forest reads too)."""
        valid = torch.arange(tokens.size(1), device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1)
        index, _ = kmer_index(tokens, states[self.widest], self.widest_k)
        return kmer_counts(index, valid, self.widest_vocabulary)

    def forward(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                record_features: Optional[Tensor] = None, counts: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        """``counts``: :meth:`chunk_counts` when the caller computed them already."""
        score = self.offset.float().unsqueeze(0)
        contexts: List[Tensor] = []
        accumulators: List[Tensor] = []
        if counts is None:
            counts = self.chunk_counts(tokens, lengths, states)
        for i, member in enumerate(self.kmers):
            member_score, context, accumulator = member(counts, tokens, states[i], states[self.n_half_states + i])
            score = score + member_score
            contexts.append(context)
            accumulators.append(accumulator)
        if self.feature_weights.size(1) > 0:
            if record_features is None:
                raise RuntimeError("this model needs the per-record features input")
            # the leading coding-v1 columns of whichever set the ensemble takes
            own = record_features[:, : self.feature_weights.size(1)].float()
            score = score + own @ self.feature_weights.float().t()
        return score, contexts + accumulators


class ClassMixing(nn.Module):
    """``logits @ matrix + bias``: every class's output log-odds from all classes' blended
    log-odds (``matrix``: classes in x classes out). Why: out of fold, a class's annotation is
    predicted better with the other classes' scores beside its own (Exosome, 99 % positive, most
    of all). fp32 buffers, used as stored, so the exported graph keeps them as named
    initializers (``mixings.0.matrix``); identity until fitted."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.register_buffer("matrix", torch.eye(n_classes))
        self.register_buffer("bias", torch.zeros(n_classes))

    def forward(self, logits: Tensor) -> Tensor:
        return logits @ self.matrix + self.bias


class EnsembleModel(StreamingModel):
    def __init__(self, config: EnsembleConfig):
        super().__init__()
        check_feature_set(config.features)
        if config.features and not config.linear_ks:
            raise ValueError("per-record features feed the k-mer regression member: set linear_ks too")
        for member in config.members:
            if member.stride != config.stride:
                raise ValueError(f"member stride {member.stride} differs from the ensemble's {config.stride}: "
                                 "chunks must align")
            if list(member.classes) != list(config.classes):
                raise ValueError(f"member classes {member.classes} differ from the ensemble's {config.classes}")
        self.config = config
        n_classes = len(config.classes)
        self.network = LocalizationModel(config.network)
        self.regression = KmerRegression(list(config.linear_ks), n_classes, config.features)
        self.members = nn.ModuleList(LocalizationModel(member) for member in config.members)
        if config.forest and not config.features:
            raise ValueError("the forest member reads the per-record features: set features too")
        # 0 or 1 forest, its blend weight folded into its leaves (.forest)
        self.forests = nn.ModuleList(
            KmerForest(list(config.forest["ks"]), n_classes, int(config.forest["nodes"]), int(config.forest["trees"]),
                       int(config.forest["depth"]), feature_width(config.features))
            for _ in range(1 if config.forest else 0))
        # rows: 0 network, 1 regression, 2 bias, 3.. members; network only until fitted
        blend = torch.zeros(3 + len(config.members), n_classes)
        blend[0] = 1.0
        self.register_buffer("blend", blend)
        # 0 or 1 class-mixing map after the blend (a ModuleList, as the forest, so TorchScript
        # compiles a model without one)
        self.mixings = nn.ModuleList(ClassMixing(n_classes) for _ in range(1 if config.class_mixing else 0))
        # the regression's widest k-mers are the forest's: one count scatter serves both
        self.share_counts = bool(config.forest) and bool(config.linear_ks) and \
            max(config.linear_ks) == max(config.forest["ks"])
        parts = [self.network, self.regression, *self.members, *self.forests]
        # the input carries the whole named set even if no part reads all of it
        self.n_features = max([part.n_features for part in parts] + [feature_width(config.features)])
        self.n_half_states = sum(part.n_half_states for part in parts)
        # a member network may read coding-v1 when the regression reads none
        self.feature_set = config.features or (CODING if self.n_features else "")

    @torch.jit.unused
    def _parts(self) -> List[nn.Module]:
        return [self.network, self.regression, *self.members, *self.forests]

    @torch.jit.unused
    def state_shapes(self) -> List[List[int]]:
        """Every part's half-precision-safe states, then every part's fp32 ones (same order)."""
        shapes = [part.state_shapes() for part in self._parts()]
        return ([s for part, own in zip(self._parts(), shapes) for s in own[: part.n_half_states]]
                + [s for part, own in zip(self._parts(), shapes) for s in own[part.n_half_states :]])

    @torch.jit.unused
    def fp32_state_count(self) -> int:
        return sum(part.n_fp32_states for part in self._parts())

    def _state_counts(self) -> List[Tuple[int, int]]:
        """(half-precision-safe, fp32) state counts of every part, in :meth:`_parts` order."""
        counts = [(self.network.n_half_states, self.network.n_fp32_states),
                  (self.regression.n_half_states, self.regression.n_fp32_states)]
        for member in self.members:
            counts.append((member.n_half_states, member.n_fp32_states))
        for forest in self.forests:
            counts.append((forest.n_half_states, forest.n_fp32_states))
        return counts

    def _split_states(self, states: List[Tensor]) -> List[List[Tensor]]:
        """Each part's own states (its half block then its fp32 block) out of the ensemble's layout."""
        half_at, fp32_at = 0, self.n_half_states
        own: List[List[Tensor]] = []
        for half, fp32 in self._state_counts():
            own.append(states[half_at : half_at + half] + states[fp32_at : fp32_at + fp32])
            half_at, fp32_at = half_at + half, fp32_at + fp32
        return own

    def _join_states(self, news: List[List[Tensor]]) -> List[Tensor]:
        """The parts' new states (as each returned them) back in the ensemble's layout."""
        halves: List[Tensor] = []
        fp32s: List[Tensor] = []
        for (half, _), new in zip(self._state_counts(), news):
            halves.extend(new[:half])
            fp32s.extend(new[half:])
        return halves + fp32s

    def forward(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                record_features: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        own = self._split_states(states)
        network_logits, network_states = self.network(tokens, lengths, own[0], record_features)
        # the forest reads the same 5-mer counts: scattered once when both are there
        shared: Optional[Tensor] = None
        if self.share_counts:
            shared = self.regression.chunk_counts(tokens, lengths, own[1])
        regression_score, regression_states = self.regression(tokens, lengths, own[1], record_features, shared)
        news = [network_states, regression_states]
        blend = self.blend.float()
        logits = blend[0] * network_logits.float() + blend[1] * regression_score + blend[2]
        part = 2
        for i, member in enumerate(self.members):
            member_logits, new = member(tokens, lengths, own[part], record_features)
            logits = logits + blend[3 + i] * member_logits.float()
            news.append(new)
            part += 1
        for forest in self.forests:  # already weighted: its leaves carry the blend
            forest_score, new = forest(tokens, lengths, own[part], record_features, shared)
            logits = logits + forest_score
            news.append(new)
            part += 1
        for mixing in self.mixings:
            logits = mixing(logits)
        return logits, self._join_states(news)


def _legacy_key(key: str) -> str:
    """Where a tensor of a checkpoint written before the ensemble had its own module now lives
    (the first network's tensors sat at the top level, the regression's beside them)."""
    if key.startswith("members.") or key == "blend":
        return key
    if key.startswith("linear."):
        return "regression.kmers." + key[len("linear."):]
    if key == "linear_offset":
        return "regression.offset"
    if key == "feature_weights":
        return "regression.feature_weights"
    return "network." + key


def upgrade_state_dict(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """An ensemble's state dict in the current key layout, whichever version wrote it."""
    if any(key.startswith("network.") for key in state):
        return state
    return {_legacy_key(key): value for key, value in state.items()}
