"""Streaming building blocks: every layer takes and returns its carried state.

A model processes a sequence either in one call or as consecutive chunks; carrying the
convolution context (the last ``(k-1)*dilation`` inputs) and the recurrent state across
calls makes the chunked result equal the one-shot result. Zero states mean "start of
sequence", which is exactly causal zero padding, so training simply passes zeros.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .fo_pooling import fo_pool


class CausalConv1d(nn.Module):
    """Conv1d that sees only the past: the carried context stands in for left padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, groups: int = 1):
        super().__init__()
        self.context = (kernel_size - 1) * dilation
        self.in_channels = in_channels
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, groups=groups)

    def forward(self, x: Tensor, ctx: Tensor) -> Tuple[Tensor, Tensor]:
        full = torch.cat([ctx, x], dim=2)
        return self.conv(full), full[:, :, full.size(2) - self.context :]


class QRNNLayer(nn.Module):
    """Quasi-recurrent layer: causal conv -> Z, F, O gates -> fo-pooling -> h = o * c.

    Padded positions get f = 1 and x = 0, so c is held through padding and the carried
    state after a partially filled chunk is the state at the last real position.

    ``groups`` > 1: that many independent QRNN layers side by side (channels group-major), one
    grouped convolution and one recurrence for all; what :mod:`.fused_ensemble` builds from
    isomorphic ensemble members. The grouped convolution gives each group's Z, F, O in turn;
    they are regrouped to Z, F, O over all groups.
    """

    def __init__(self, in_channels: int, hidden: int, window: int = 2, zoneout: float = 0.0, dropout: float = 0.0,
                 groups: int = 1):
        super().__init__()
        self.hidden = hidden
        self.groups = groups
        self.conv = CausalConv1d(in_channels, 3 * hidden, window, groups=groups)
        self.zoneout = zoneout
        self.dropout = nn.Dropout(dropout)

    def state_shapes(self) -> List[List[int]]:
        return [[self.conv.in_channels, self.conv.context], [self.hidden]]

    def forward(self, x: Tensor, mask: Tensor, states: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        gates, ctx = self.conv(x, states[0])
        if self.groups > 1:
            batch, steps = gates.size(0), gates.size(2)
            parts = gates.reshape(batch, self.groups, 3, self.hidden // self.groups, steps).unbind(2)
            z = parts[0].reshape(batch, self.hidden, steps)
            f = parts[1].reshape(batch, self.hidden, steps)
            o = parts[2].reshape(batch, self.hidden, steps)
        else:
            z, f, o = gates.chunk(3, dim=1)
        z = torch.tanh(z)
        f = torch.sigmoid(f)
        o = torch.sigmoid(o)
        if self.training and self.zoneout > 0:
            f = torch.where(torch.rand_like(f) < self.zoneout, torch.ones_like(f), f)
        f = torch.where(mask, f, torch.ones_like(f))
        x_in = (1.0 - f) * z
        c = fo_pool(f, x_in, states[1])
        h = o * c
        return self.dropout(h), [ctx, c[:, :, -1]]


class TCNBlock(nn.Module):
    """Residual block of two weight-normalised dilated causal convolutions (kernel 3)."""

    def __init__(self, channels: int, dilation: int, kernel_size: int = 3, dropout: float = 0.0):
        super().__init__()
        self.conv1 = CausalConv1d(channels, channels, kernel_size, dilation)
        self.conv2 = CausalConv1d(channels, channels, kernel_size, dilation)
        for conv in (self.conv1, self.conv2):
            nn.utils.parametrizations.weight_norm(conv.conv)
        self.dropout = nn.Dropout(dropout)

    def state_shapes(self) -> List[List[int]]:
        return [[self.conv1.in_channels, self.conv1.context], [self.conv2.in_channels, self.conv2.context]]

    def forward(self, x: Tensor, mask: Tensor, states: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        y, ctx1 = self.conv1(x, states[0])
        y = self.dropout(F.relu(y))
        y, ctx2 = self.conv2(y, states[1])
        y = self.dropout(F.relu(y))
        return F.relu(x + y), [ctx1, ctx2]


class LSTMStack(nn.Module):
    """Unidirectional multi-layer LSTM baseline; (h, c) are kept batch-first as states."""

    def __init__(self, in_channels: int, hidden: int, num_layers: int, dropout: float = 0.0):
        super().__init__()
        self.hidden = hidden
        self.num_layers = num_layers
        self.lstm = nn.LSTM(in_channels, hidden, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0)

    def state_shapes(self) -> List[List[int]]:
        return [[self.num_layers, self.hidden], [self.num_layers, self.hidden]]

    def forward(self, x: Tensor, mask: Tensor, states: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        h0 = states[0].transpose(0, 1).contiguous()
        c0 = states[1].transpose(0, 1).contiguous()
        y, (h, c) = self.lstm(x.transpose(1, 2), (h0, c0))
        return y.transpose(1, 2), [h.transpose(0, 1), c.transpose(0, 1)]


class MaskedMeanMaxPool(nn.Module):
    """Mean and max over valid positions, accumulated across chunks.

    The accumulators (sum, max, count) are carried states. All start at zero: the max
    accumulator is ignored while the count is zero, so "zeros" stays a valid start state.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def state_shapes(self) -> List[List[int]]:
        return [[self.channels], [self.channels], [1]]

    def forward(self, h: Tensor, mask: Tensor, states: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        acc_sum, acc_max, acc_count = states[0], states[1], states[2]
        maskf = mask.to(h.dtype)
        total = acc_sum + (h * maskf).sum(dim=2)
        count = acc_count + maskf.sum(dim=2)
        chunk_max = h.masked_fill(~mask, float("-inf")).amax(dim=2)
        new_max = torch.where(acc_count > 0, torch.maximum(acc_max, chunk_max), chunk_max)
        # A row with no valid step yet (empty record, or a batch row already finished) would
        # carry -inf into the head and give nan logits; report 0 there (count stays 0).
        new_max = torch.where(count > 0, new_max, torch.zeros_like(new_max))
        mean = total / count.clamp(min=1.0)
        features = torch.cat([mean, new_max, torch.log1p(count)], dim=1)
        return features, [total, new_max, count]
