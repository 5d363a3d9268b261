"""Run independent jobs on a few threads; results as they finish.

Why threads (not processes): ONNX Runtime releases the GIL for the whole of ``run`` and one
session may serve several threads, so N threads each running a batch on a one-thread session
use N cores with one copy of the model and no pickling of sequences (docs/PERFORMANCE.md,
"All cores", measures this against intra-op threads and worker processes). A job builds its
own padded batch when it starts, so queued jobs hold no memory beyond what the caller holds.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")

FULL_CALLS = 4  # model calls of a full --batch-nt that may be in flight at once (memory bound)
MIN_BATCH_NT = 4_096


def shared_budget(batch_nt: int, workers: int) -> int:
    """Per-call padded-nt budget when ``workers`` calls run at once.

    Why: every call in flight holds its activations (~1.8 KB per padded nt for the default
    model: 65,536 nt ~ 115 MB, docs/PERFORMANCE.md "All cores"). Up to FULL_CALLS workers keep
    the full budget (so 2-4 cores batch exactly as one does); beyond, the budget is shared so
    that all calls together hold at most FULL_CALLS x batch_nt, whatever the core count.
    """
    if workers <= FULL_CALLS:
        return batch_nt
    return max(min(batch_nt, MIN_BATCH_NT), batch_nt * FULL_CALLS // workers)


def run_jobs(jobs: Sequence[Callable[[], T]], workers: int) -> Iterator[T]:
    """Yield ``job()`` for every job as it finishes; up to ``workers`` run at once.

    Give the longest jobs first (they then finish together). With one worker (or one job)
    they run in the calling thread, in order, with no thread at all. A job's exception is
    raised here; jobs not yet started are cancelled and running ones waited for.
    """
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield job()
        return
    executor = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="rnaloc-model")
    try:
        pending = {executor.submit(job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
