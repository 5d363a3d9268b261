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

from rnaloc_infer.training.models import LocalizationModel


class _Fp32Pool(nn.Module):
    """Runs the wrapped pooling in fp32 on fp16 activations."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        self.inner = pool

    def state_shapes(self) -> List[List[int]]:
        return self.inner.state_shapes()

    def forward(self, h: Tensor, mask: Tensor, states: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        return self.inner(h.float(), mask, states)


def to_half(folded: LocalizationModel) -> LocalizationModel:
    """In place on an already folded copy: body in fp16, pooling and head in fp32."""
    folded.half()
    for network in [folded, *folded.members]:
        network.pool = _Fp32Pool(network.pool)
        network.head.float()
    # the k-mer regression of an ensemble: small weights summed over a whole record, kept fp32
    folded.linear.float()
    folded.blend.data = folded.blend.data.float()
    folded.linear_offset.data = folded.linear_offset.data.float()
    for name in ("feature_weights", "feature_mean", "feature_scale"):
        buffer = getattr(folded, name)
        buffer.data = buffer.data.float()
    return folded


class HalfExportWrapper(nn.Module):
    """Like ExportWrapper, but casts the body's states to fp16 on the way in and all back out."""

    def __init__(self, model: LocalizationModel):
        super().__init__()
        self.model = model
        self.n_half_states = len(model.state_shapes()) - model.fp32_state_count()

    def forward(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                features: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        cast = [s.half() if i < self.n_half_states else s for i, s in enumerate(states)]
        logits, new_states = self.model(tokens, lengths, cast, features)
        return torch.sigmoid(logits.float()), [s.float() for s in new_states]
