"""Turn a training model into an export-ready one.

Export must not touch the caller's model: we rebuild a copy, fold weight norm into plain
weights (the parametrisation would otherwise be traced as norm/div ops on every call, and
TorchScript cannot script parametrised modules cleanly), and switch to eval mode so
dropout and zoneout are off. :class:`ExportWrapper` gives the flat signature of
docs/DESIGN.md: ``(tokens, lengths, *states) -> (probs, *states)``.
"""

from __future__ import annotations

import copy
import logging
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from rnaloc_infer.training.ensemble_model import EnsembleModel
from rnaloc_infer.training.fused_ensemble import fuse_members
from rnaloc_infer.training.models import LocalizationModel, StreamingModel

from .pad_channel import add_pad_channel

log = logging.getLogger(__name__)


def export_ready(model: StreamingModel, fuse: bool = True, pad_channel: bool = False) -> StreamingModel:
    """Folded eval-mode copy of ``model`` (:func:`fold_weight_norm`); with ``fuse``, in the
    cheaper graph layout that computes the same numbers (up to float rounding): an ensemble's
    isomorphic networks as one wide network (:mod:`rnaloc_infer.training.fused_ensemble`), and
    with ``pad_channel`` too, every motif front end's padding mask folded into its convolution
    (:mod:`.pad_channel`; ONNX files only: it adds a channel to a carried state, and TorchScript
    callers build their states from the training model)."""
    if not fuse:
        return fold_weight_norm(model)
    fused = fuse_members(model) if isinstance(model, EnsembleModel) else None
    if fused is not None:
        log.info("exporting the ensemble's %d networks fused into one", fused.groups)
    folded = fold_weight_norm(fused if fused is not None else model)
    for module in folded.modules() if pad_channel else ():
        if isinstance(module, LocalizationModel):
            add_pad_channel(module)
    return folded


def fold_weight_norm(model: StreamingModel) -> StreamingModel:
    """Copy of ``model`` in eval mode with every parametrisation baked into its tensor.

    Not ``copy.deepcopy``: a deep copy shares the dynamically created ``Parametrized*``
    class with the original, and ``remove_parametrizations`` deletes the ``weight``
    property from that class, which silently breaks the caller's model (torch 2.13).
    Rebuilding from the config gives every module its own parametrised class.
    """
    folded = type(model)(copy.deepcopy(model.config))
    folded.load_state_dict(model.state_dict())
    folded = folded.cpu().eval()
    for module in folded.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    for p in folded.parameters():
        p.requires_grad_(False)
    return folded


class ExportWrapper(nn.Module):
    """Flat-argument view of a network or ensemble returning sigmoid probabilities."""

    def __init__(self, model: StreamingModel):
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, lengths: Tensor, states: List[Tensor],
                features: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        logits, new_states = self.model(tokens, lengths, states, features)
        return torch.sigmoid(logits), new_states


def example_inputs(model: StreamingModel, batch: int = 2, length: int = 37) -> Tuple:
    """Small non-degenerate inputs for tracing (ragged lengths so the mask is not constant):
    (tokens, lengths, states), plus per-record features when the model takes them."""
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 5, (batch, length), generator=gen, dtype=torch.uint8)
    lengths = torch.tensor([length] + [max(1, length - 5 * i) for i in range(1, batch)], dtype=torch.int64)
    for row in range(batch):
        tokens[row, int(lengths[row]):] = 5
    if model.n_features == 0:
        return tokens, lengths, model.zero_states(batch)
    features = torch.randn(batch, model.n_features, generator=gen)
    return tokens, lengths, model.zero_states(batch), features
