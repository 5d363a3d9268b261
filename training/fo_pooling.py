"""fo-pooling, the QRNN recurrence ``c_t = f_t * c_{t-1} + x_t`` with ``x_t = (1 - f_t) * z_t``.

Three forms of the same recurrence, one per use:

* :func:`fo_pool_reference` — a plain per-timestep Python loop; slow, obviously right,
  the yardstick for tests.
* :func:`fo_pool` — the training/inference hot path: a custom autograd function whose
  forward and backward are TorchScript loops over a time-major copy of the gates, so each
  step is two fused vector ops on contiguous memory and the backward pass is the same
  linear recurrence run in reverse (no autograd graph of T nodes).
* During ONNX export the autograd function emits a placeholder ``rnaloc::FoPool`` node
  that :mod:`rnaloc_infer.export.scan` replaces with standard ONNX nodes (``If`` + ``Scan``).

Shapes: gates and inputs are channel-major ``(batch, hidden, time)`` like Conv1d
outputs; the initial state ``c0`` is ``(batch, hidden)``; the result holds every ``c_t``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def fo_pool_reference(f: Tensor, x: Tensor, c0: Tensor) -> Tensor:
    """Per-timestep Python loop; the definition every faster form is tested against."""
    c = c0
    out = []
    for t in range(f.shape[2]):
        c = f[:, :, t] * c + x[:, :, t]
        out.append(c)
    if not out:
        return f.new_zeros(f.shape)
    return torch.stack(out, dim=2)


@torch.jit.script
def _scan_time_major(f: Tensor, x: Tensor, c0: Tensor) -> Tensor:
    """Loop over dim 0 of contiguous (time, batch, hidden) tensors."""
    out = torch.empty_like(x)
    c = c0
    for t in range(x.size(0)):
        c = torch.addcmul(x[t], f[t], c)
        out[t] = c
    return out


def fo_pool_loop(f: Tensor, x: Tensor, c0: Tensor) -> Tensor:
    """Forward-only fast path (also what TorchScript export uses)."""
    out = _scan_time_major(f.permute(2, 0, 1).contiguous(), x.permute(2, 0, 1).contiguous(), c0)
    return out.permute(1, 2, 0)


class _FoPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f: Tensor, x: Tensor, c0: Tensor) -> Tensor:  # type: ignore[override]
        f_tm = f.permute(2, 0, 1).contiguous()
        c_tm = _scan_time_major(f_tm, x.permute(2, 0, 1).contiguous(), c0)
        ctx.save_for_backward(f_tm, c_tm, c0)
        return c_tm.permute(1, 2, 0)

    @staticmethod
    def backward(ctx, grad_c: Tensor):  # type: ignore[override]
        f_tm, c_tm, c0 = ctx.saved_tensors
        g_tm = grad_c.permute(2, 0, 1).contiguous()
        # G_t = g_t + f_{t+1} G_{t+1}: the same recurrence, reversed in time.
        f_next = torch.cat([f_tm[1:], torch.zeros_like(f_tm[:1])], dim=0)
        big_g = _scan_time_major(f_next.flip(0), g_tm.flip(0), torch.zeros_like(c0)).flip(0)
        c_prev = torch.cat([c0.unsqueeze(0), c_tm[:-1]], dim=0)
        grad_f = (big_g * c_prev).permute(1, 2, 0)
        grad_x = big_g.permute(1, 2, 0)
        grad_c0 = f_tm[0] * big_g[0] if f_tm.size(0) else torch.zeros_like(c0)
        return grad_f, grad_x, grad_c0

    @staticmethod
    def symbolic(g, f, x, c0):  # pragma: no cover - exercised through export tests
        return g.op("rnaloc::FoPool", f, x, c0).setType(x.type())


@torch.jit.unused
def _fo_pool_autograd(f: Tensor, x: Tensor, c0: Tensor) -> Tensor:
    return _FoPool.apply(f, x, c0)


def fo_pool(f: Tensor, x: Tensor, c0: Tensor) -> Tensor:
    """Fast fo-pooling with an analytic backward pass; scriptable and ONNX-exportable."""
    if torch.jit.is_scripting():
        return fo_pool_loop(f, x, c0)
    return _fo_pool_autograd(f, x, c0)
