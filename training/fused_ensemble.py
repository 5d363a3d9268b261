"""An ensemble's isomorphic QRNN networks run as ONE network as many times as wide.

Why: much of ONNX Runtime's time for these small models goes to node runs rather than FLOPs
(docs/PERFORMANCE.md, "Profile"), and two 64-channel networks run the same op sequence twice,
the recurrence included. Side by side in one network (128 channels for two) they do the same
arithmetic in about half the node runs (the measured gain is smaller, docs/PERFORMANCE.md
"Fused ensemble members"):

* one motif convolution with the networks' filters stacked (5 -> k*H), one ReLU, one max-pool;
* per QRNN layer one *grouped* convolution (groups = k, so each network still sees only its
  own channels; :class:`.layers.QRNNLayer` regroups the gates) and ONE recurrence at k*H;
* one masked mean+max pooling; one head whose first layer is block-structured (each
  network's hidden units read only its own pooled channels, the shared log-length and, if
  it reads them, the standardised protein features) and whose last layer has each network's
  blend weight folded in, so it returns the networks' blended logits directly.

The result is an :class:`.ensemble_model.EnsembleModel` with one wide network and no
members; its ``config`` stays the original ensemble's (so the exported ``rnaloc.hparams``
are unchanged and :func:`..export.prepare.fold_weight_norm` rebuilds it from the config).
Only for inference and export: the zero blocks are not kept zero by training.

Numbers: equal to the unfused ensemble up to float rounding (the blend is multiplied into the
head's weights instead of its output, and the zero blocks change a GEMM's summation order);
tests/test_fused_ensemble.py checks eager, TorchScript, ONNX, chunked and fp16.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Dict, List, Optional

import torch
from torch import Tensor

from rnaloc_infer.features.registry import CODING

from .ensemble_model import EnsembleConfig, EnsembleModel
from .model_kinds import KINDS, kinds_with
from .models import LocalizationModel, ModelConfig

# the fields that must agree for networks to be fused (the rest: training-only or checked below)
SHAPE_FIELDS = ("kind", "hidden", "layers", "stride", "window", "front_kernel", "kmer_k", "bag_k", "classes")


def fusable(config: EnsembleConfig) -> bool:
    """Whether the ensemble's networks (first network and members) can run as one wide network:
    at least two networks of a fusable kind (:mod:`.model_kinds`: QRNN) with a motif front end,
    no k-mer encoder or bag, same shapes."""
    networks = [config.network, *config.members]
    first = networks[0]
    return (len(networks) >= 2 and first.kind in kinds_with("fusable") and first.front_kernel > 0 and first.kmer_k == 0
            and first.bag_k == 0
            and all(getattr(n, name) == getattr(first, name) for n in networks[1:] for name in SHAPE_FIELDS))


def _wide_config(config: EnsembleConfig) -> ModelConfig:
    networks = [config.network, *config.members]
    head_features = CODING if any(n.head_features for n in networks) else ""
    return replace(copy.deepcopy(config.network), hidden=len(networks) * config.network.hidden,
                   head_features=head_features)


class FusedEnsembleModel(EnsembleModel):
    """:class:`EnsembleModel` whose networks are fused (module docstring); built from the
    original ensemble's config, weights from :func:`fuse_members`."""

    def __init__(self, config: EnsembleConfig):
        if not fusable(config):
            raise ValueError(f"the ensemble's networks are not isomorphic networks of a fusable kind ({', '.join(kinds_with('fusable'))}) "
                             "with a motif front end: cannot fuse")
        groups = 1 + len(config.members)
        super().__init__(EnsembleConfig(_wide_config(config), [], list(config.linear_ks), config.features, config.forest,
                                        config.class_mixing))
        wide = self.network.config
        grouped = KINDS[wide.kind].grouped
        assert grouped is not None  # fusable() checked the kind
        for i in range(len(self.network.body)):
            self.network.body[i] = grouped(wide, groups)
        self.groups = groups
        self.config = config  # the original ensemble's: metadata and rebuilds see what was trained


def fuse_members(model: EnsembleModel) -> Optional[FusedEnsembleModel]:
    """The fused equivalent of ``model`` in eval mode, or None when its networks cannot be fused
    (see :func:`fusable`; also when networks reading the protein features standardise them
    differently: one wide head standardises them once)."""
    if isinstance(model, FusedEnsembleModel) or not fusable(model.config):
        return None
    networks: List[LocalizationModel] = [model.network, *model.members]
    readers = [n for n in networks if n.n_head_features]
    if any(not (torch.equal(n.feature_mean, readers[0].feature_mean) and torch.equal(n.feature_scale, readers[0].feature_scale))
           for n in readers[1:]):
        return None
    fused = FusedEnsembleModel(model.config)
    fused.load_state_dict(_fused_state(model, networks, readers))
    return fused.eval()


def _fused_state(model: EnsembleModel, networks: List[LocalizationModel],
                 readers: List[LocalizationModel]) -> Dict[str, Tensor]:
    k, hidden = len(networks), model.config.network.hidden
    width = k * hidden
    states = [n.state_dict() for n in networks]
    cat = lambda key: torch.cat([s[key] for s in states])  # noqa: E731
    out: Dict[str, Tensor] = {
        "network.motif.conv.weight": cat("motif.conv.weight"),
        "network.motif.conv.bias": cat("motif.conv.bias"),
    }
    for layer in range(len(networks[0].body)):
        prefix = f"body.{layer}.conv.conv."
        # a grouped convolution's output channels are group-major: network i's Z, F, O in turn
        out["network." + prefix + "weight"] = cat(prefix + "weight")
        out["network." + prefix + "bias"] = cat(prefix + "bias")
    # head input: [mean (k*H), max (k*H), log1p(count), standardised features (if any reads them)]
    n_features = readers[0].n_head_features if readers else 0
    first = torch.zeros(width, 2 * width + 1 + n_features)
    blend = model.blend.float()
    last = torch.zeros(blend.size(1), width)
    last_bias = torch.zeros(blend.size(1))
    for i, (network, state) in enumerate(zip(networks, states)):
        rows = slice(i * hidden, (i + 1) * hidden)
        weight = state["head.0.weight"]
        first[rows, i * hidden : (i + 1) * hidden] = weight[:, :hidden]
        first[rows, width + i * hidden : width + (i + 1) * hidden] = weight[:, hidden : 2 * hidden]
        first[rows, 2 * width] = weight[:, 2 * hidden]
        if network.n_head_features:
            first[rows, 2 * width + 1 :] = weight[:, 2 * hidden + 1 :]
        scale = blend[0] if i == 0 else blend[2 + i]  # blend rows: 0 network, 1 regression, 2 bias, 3.. members
        last[:, rows] = scale.unsqueeze(1) * state["head.3.weight"]
        last_bias += scale * state["head.3.bias"]
    out.update({"network.head.0.weight": first, "network.head.0.bias": cat("head.0.bias"),
                "network.head.3.weight": last, "network.head.3.bias": last_bias})
    if readers:
        out["network.feature_mean"] = readers[0].feature_mean
        out["network.feature_scale"] = readers[0].feature_scale
    out.update({key: value for key, value in model.state_dict().items() if key.startswith(("regression.", "forests.", "mixings."))})
    # the networks' blend is in the head now: weight 1 for the fused network
    out["blend"] = torch.stack([torch.ones_like(blend[0]), blend[1], blend[2]])
    return out
