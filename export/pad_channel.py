"""The motif front end's padding mask folded into its convolution: an exact export rewrite.

Why: the network zeroes the motif scores at padded positions (``relu(conv(x)) * valid``) so a
record scores the same alone or beside longer ones; that multiply is a pass over the largest
tensor of the graph ([batch, filters, nucleotides], before max-pooling). An exported file
instead reads one more input channel, 1 at padding and 0 elsewhere, weighted ``PAD_WEIGHT`` at
the convolution's current-position tap: at a padded position the score is hugely negative
and the ReLU makes it exactly 0, as the multiply did; at a real position the channel is 0 and
adds exactly nothing (the convolution is causal, so no real position sees a later padded one).
Measured (docs/PERFORMANCE.md): about 6 % less model time on the validation set, identical
probabilities. The motif context state then has one more channel; files still load without it.

``strip_pad_channel`` undoes it on a file's weights, for the code that rebuilds a model or
reads weights from an exported file (:mod:`.from_onnx`, :mod:`.ism_weights`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

import numpy as np

from rnaloc_infer.alphabet import ALPHABET, PAD_CODE

if TYPE_CHECKING:
    from rnaloc_infer.training.models import LocalizationModel

PAD_WEIGHT = -1.0e4  # far below any real score (|weights| x 9 taps ~ 10), finite in fp16
MOTIF_WEIGHT = "motif.conv.weight"


def add_pad_channel(network: "LocalizationModel") -> bool:
    """In place, on an export-ready copy: fold the padding mask into the motif convolution.

    Returns False (and changes nothing) for a network without a one-hot motif front end."""
    import torch

    from rnaloc_infer.training.layers import CausalConv1d

    motif = network.motif
    if motif is None or network.kmer is not None or network.pad_channel or motif.conv.dilation[0] != 1:
        return False
    old = motif.conv
    wider = CausalConv1d(old.in_channels + 1, old.out_channels, old.kernel_size[0])
    with torch.no_grad():
        wider.conv.weight.zero_()
        wider.conv.weight[:, : old.in_channels] = old.weight
        wider.conv.weight[:, old.in_channels, -1] = PAD_WEIGHT  # the current position's tap
        wider.conv.bias.copy_(old.bias)
    wider.requires_grad_(False)
    table = torch.zeros(network.one_hot.size(0), old.in_channels + 1, dtype=network.one_hot.dtype)
    table[:, : old.in_channels] = network.one_hot
    table[PAD_CODE, old.in_channels] = 1.0
    network.motif = wider.to(old.weight.device).eval()
    network.one_hot = table.to(network.one_hot.device)
    network.pad_channel = True
    return True


def strip_pad_channel(weights: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """A copy of an exported file's weights with every motif weight back to the alphabet's
    channels; a weight of another shape or pattern is left alone."""
    out = dict(weights)
    for name, value in weights.items():
        if not name.endswith(MOTIF_WEIGHT) or value.ndim != 3 or value.shape[1] != len(ALPHABET) + 1:
            continue
        pad = value[:, len(ALPHABET)]
        if np.all(pad[:, :-1] == 0) and np.all(pad[:, -1] == np.float32(PAD_WEIGHT)):
            out[name] = np.ascontiguousarray(value[:, : len(ALPHABET)])
    return out
