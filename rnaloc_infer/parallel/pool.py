"""Run independent jobs on a few threads; results as they finish.

Why threads (not processes): ONNX Runtime releases the GIL for the whole of ``run`` and one
session may serve several threads, so N threads each running a batch on a one-thread session
use N cores with one copy of the model and no pickling of sequences (docs/PERFORMANCE.md,
"All cores", measures this against intra-op threads and worker processes). A job builds its
own padded batch when it starts, so queued jobs hold no memory beyond what the caller holds.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar

T = TypeVar("T")
K = TypeVar("K")

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


def run_windows(windows: Iterable[Tuple[K, Sequence[Callable[[], T]]]], workers: int) -> Iterator[Tuple[K, Iterator[T]]]:
    """Per window: (its key, its jobs' results as they finish), one window ahead.

    Why: the caller reads its input and writes its output in the calling thread. Run one
    window at a time (:func:`run_jobs`), the threads idle while it reads the next window and
    while it writes the last one's rows: on 2 cores and 300-nt records about a tenth of the
    run (docs/PERFORMANCE.md, "Short records"). Here window k+1 is taken from ``windows``
    (read) while window k's jobs run, and its jobs are queued before window k's results are
    handed out, so they run while the caller writes. The jobs and their results are the
    same as :func:`run_jobs`'; at most two windows are held at once. The caller must use up
    each window's results before asking for the next window. A job's exception is raised
    from the results; on any exit, queued jobs are cancelled and running ones waited for.
    With one worker this is :func:`run_jobs` window after window, no thread at all.
    """
    if workers <= 1:
        for key, jobs in windows:
            yield key, run_jobs(jobs, 1)
        return
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnaloc-model")
    ahead: Optional[Tuple[K, List["Future[T]"]]] = None
    try:
        for key, jobs in windows:  # reads the next window while `ahead`'s jobs run
            futures = [executor.submit(job) for job in jobs]
            if ahead is not None:
                yield ahead[0], (future.result() for future in as_completed(ahead[1]))
            ahead = (key, futures)
        if ahead is not None:
            yield ahead[0], (future.result() for future in as_completed(ahead[1]))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
