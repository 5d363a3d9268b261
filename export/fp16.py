"""fp16 variant of the model, for GPU inference.

Why a half-precision *export* (not a graph-level float16 converter): onnxconverter-common's
converter left the graph's own ``Cast(to=FLOAT)`` and some constants in fp32 and produced
files ORT refused to load (type mismatches), and it needs an extra package. Exporting a
half model keeps every op typed consistently by torch itself.

Numerics: the convolutions, gates and recurrence run in fp16; the masked mean/max pooling
(whose carried sum and count grow with sequence length and would lose integer exactness in
fp16 above 2048 steps) and the small head run in fp32. The IO contract is unchanged:
tokens uint8, lengths int64, states and probs float32; casts sit at the edges.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from rnaloc_infer.training.ensemble_model import EnsembleModel
from rnaloc_infer.training.models import StreamingModel


class _Fp32Pool(nn.Module):
    """Runs the wrapped pooling in fp32 on fp16 activations."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        self.inner = pool

    def state_shapes(self) -> List[List[int]]:
        return self.inner.state_shapes()

    def forward(self, h: Tensor, mask: Tensor, states: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        return self.inner(h.float(), mask, states)


def to_half(folded: StreamingModel) -> StreamingModel:
    """In place on an already folded copy: bodies in fp16; every network's pooling and head,
    and an ensemble's regression, forest, blend and class mixing, in fp32. The head-feature statistics are cast back
    to fp32 after the model-wide ``half()``, so their values are fp16-rounded (as in every
    file shipped so far); the forest keeps its exact fp32 thresholds and leaves (a threshold
    rounded to fp16 would send records down other branches)."""
    forests = [{key: value.clone() for key, value in forest.state_dict().items()}
               for forest in getattr(folded, "forests", [])]
    mixings = [{key: value.clone() for key, value in mixing.state_dict().items()}
               for mixing in getattr(folded, "mixings", [])]
    folded.half()
    networks = [folded.network, *folded.members] if isinstance(folded, EnsembleModel) else [folded]
    for network in networks:
        network.pool = _Fp32Pool(network.pool)
        network.head.float()
        network.feature_mean.data = network.feature_mean.data.float()
        network.feature_scale.data = network.feature_scale.data.float()
    if isinstance(folded, EnsembleModel):
        # the k-mer regression: small weights summed over a whole record, kept fp32
        folded.regression.float()
        for kmers in folded.regression.kmers:  # the tables are float64, as the sums they enter
            kmers.table.data = kmers.table.data.double()
        folded.blend.data = folded.blend.data.float()
        for forest, state in zip(folded.forests, forests):
            forest.float()
            forest.load_state_dict(state)
        for mixing, state in zip(folded.mixings, mixings):  # the class-mixing map: exact fp32
            mixing.float()
            mixing.load_state_dict(state)
    return folded


class HalfExportWrapper(nn.Module):
    """Like ExportWrapper, but casts the body's states to fp16 on the way in and all back out."""

    def __init__(self, model: StreamingModel):
        super().__init__()
        self.model = model
        self.n_half_states = len(model.state_shapes()) - model.fp32_state_count()

    def forward(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                features: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        cast = [s.half() if i < self.n_half_states else s for i, s in enumerate(states)]
        logits, new_states = self.model(tokens, lengths, cast, features)
        return torch.sigmoid(logits.float()), [s.float() for s in new_states]
