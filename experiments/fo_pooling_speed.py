"""Time fo-pooling: the per-step reference loop vs the fast ``fo_pool`` (forward, forward+backward).

Run: ``python experiments/fo_pooling_speed.py [--batch 8 --hidden 64 --length 4000 --threads 2]``.
Shapes default to one QRNN layer on a batch of 8 records of 32 knt at stride 8.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

from rnaloc_infer.training.fo_pooling import fo_pool, fo_pool_reference


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (TorchScript profiling runs, allocator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--length", type=int, default=4000, help="time steps (after the stride)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = (args.batch, args.hidden, args.length)
    f = torch.rand(shape).requires_grad_()
    x = torch.randn(shape).requires_grad_()
    c0 = torch.zeros(args.batch, args.hidden).requires_grad_()
    weight = torch.randn(shape)

    def forward(impl):
        def run():
            with torch.no_grad():
                impl(f, x, c0)
        return run

    def forward_backward(impl):
        def run():
            (impl(f, x, c0) * weight).sum().backward()
            f.grad = x.grad = c0.grad = None
        return run

    rows = []
    for label, make in (("forward", forward), ("forward+backward", forward_backward)):
        ref = _time(make(fo_pool_reference), args.repeats)
        fast = _time(make(fo_pool), args.repeats)
        rows.append((label, ref, fast))
    print(f"fo-pooling B={args.batch} H={args.hidden} T={args.length}, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'pass':<18}{'reference ms':>14}{'fo_pool ms':>12}{'speed-up':>10}")
    for label, ref, fast in rows:
        print(f"{label:<18}{ref * 1e3:>14.1f}{fast * 1e3:>12.1f}{ref / fast:>9.1f}x")


if __name__ == "__main__":
    main()
