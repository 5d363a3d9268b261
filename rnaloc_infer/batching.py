"""Length-sorted batching in a bounded look-ahead window, results in input order.

Why this shape:

* Records are gathered into a *window* (at most ``window_records`` records and
  ``window_nt`` nucleotides), so memory is bounded whatever the number of records.
* Inside a window, records are sorted by length and cut into batches by a *token budget*
  (``batch size x longest record <= batch_nt``): similar lengths share a batch, so little
  padding is computed, and short records are packed many per call (per-call overhead is what
  makes one-record-at-a-time tools slow).
* Records longer than ``chunk_nt`` take the exact chunked path
  (:meth:`ModelSession.predict_long`): consecutive calls carrying the model state, so memory is
  bounded by the chunk, not the record, and nothing is truncated.
* Results of a window are emitted in input order. With several worker threads the next
  window is read, and its calls queued, while this one's calls run (so at most two windows
  are held); with one, before the next window is read.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:  # imported where used: `rnaloc-infer --help` reads BatchConfig without numpy or ORT
    import numpy as np

    from .fasta import Record, RecordError
    from .session import ModelSession

ON_ERROR = ("fail", "skip")


@dataclass(frozen=True)
class BatchConfig:
    """Batching knobs (CLI: --batch-nt, --window-records, --window-nt, --chunk-nt)."""

    batch_nt: int = 65_536  # padded nucleotides per model call (batch x longest); see PERFORMANCE.md
    window_records: int = 20_000  # look-ahead window: records ...
    window_nt: int = 16_000_000  # ... and nucleotides held before a flush
    chunk_nt: int = 65_536  # records longer than this go through the chunked path

    def __post_init__(self) -> None:
        for name in ("batch_nt", "window_records", "window_nt", "chunk_nt"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Scored:
    """Model output for one record (probabilities in the model's class order)."""

    id: str
    header: str
    length: int
    source: str
    number: int
    probs: np.ndarray
    # Applicability flags (rnaloc_infer.applicability): () in range, None when the model has no rules.
    applicability: Optional[Tuple[str, ...]] = None


Item = Union["Record", "RecordError"]
# a finished job: the window positions it scored, their probabilities, nucleotides, applicability flags
_Done = Tuple[List[int], "np.ndarray", int, List[Optional[Tuple[str, ...]]]]
Progress = Callable[[int, int], None]  # (records finished, nucleotides finished)


def plan_batches(lengths: Sequence[int], budget: int, order: Optional[Iterable[int]] = None) -> List[List[int]]:
    """Group indices into batches of similar length under a padded-token budget.

    The one batch planner of the project (the runtime's windows and training's length
    buckets): indices are taken in ``order`` (default: longest first, stable, so equal
    lengths keep input order) and a batch grows while (size + 1) x its longest member stays
    within ``budget``. A record longer than the budget gets a batch of its own. Pass an
    ``order`` sorted by length (either direction) to keep batch members alike in length.
    """
    if order is None:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: List[List[int]] = []
    current: List[int] = []
    width = 0
    for index in order:
        length = max(1, int(lengths[index]))
        if current and (len(current) + 1) * max(width, length) > budget:
            batches.append(current)
            current = []
            width = 0
        current.append(index)
        width = max(width, length)
    if current:
        batches.append(current)
    return batches


def _window_jobs(window: List[Item], session: ModelSession, config: BatchConfig, workers: int) -> List[Callable[[], _Done]]:
    """The model calls of one window: chunked long records (longest first), then the batches."""
    from .alphabet import pad_batch
    from .features.registry import record_features_and_orfs
    from .fasta import Record
    from .parallel import shared_budget

    short = [i for i, item in enumerate(window) if isinstance(item, Record) and item.length <= config.chunk_nt]
    long = [i for i, item in enumerate(window) if isinstance(item, Record) and item.length > config.chunk_nt]
    lengths = [window[i].length for i in short]  # type: ignore[union-attr]
    rules = session.info.applicability

    def check(members: List[int], orf_codons: Optional[np.ndarray] = None) -> List[Optional[Tuple[str, ...]]]:
        """Applicability flags, inside the job: the check then runs on every worker too."""
        if rules is None:
            return [None] * len(members)
        return rules.check_many([window[i].codes for i in members], [window[i].ambiguous for i in members],  # type: ignore[union-attr]
                                orf_codons)

    def run_batch(members: List[int]) -> Callable[[], _Done]:
        def job() -> _Done:
            codes = [window[i].codes for i in members]  # type: ignore[union-attr]
            tokens, lens = pad_batch(codes)
            # One ORF search per record serves the features and the no_orf flag.
            features, orf_codons = record_features_and_orfs(codes, session.info.features) if session.info.features else (None, None)
            return members, session.run(tokens, lens, features=features)[0], int(lens.sum()), check(members, orf_codons)
        return job

    def run_long(i: int) -> Callable[[], _Done]:
        def job() -> _Done:
            record = window[i]
            out = session.predict_long(record.codes, config.chunk_nt)[None]  # type: ignore[union-attr]
            return [i], out, record.length, check([i])  # type: ignore[union-attr]
        return job

    # Longest jobs first, so that the threads finish together (parallel.run_jobs).
    jobs = [run_long(i) for i in sorted(long, key=lambda i: -window[i].length)]  # type: ignore[union-attr]
    jobs += [run_batch([short[b] for b in batch]) for batch in plan_batches(lengths, shared_budget(config.batch_nt, workers))]
    return jobs


def _window_items(window: List[Item], done: Iterable[_Done], progress: Optional[Progress]) -> Iterator[Item]:
    """A window's items in input order, once all its jobs are ``done``: Scored or RecordError."""
    from .fasta import Record

    probs: List[Optional[np.ndarray]] = [None] * len(window)
    flags: List[Optional[Tuple[str, ...]]] = [None] * len(window)
    for members, out, nt, found in done:
        for row, i in enumerate(members):
            probs[i] = out[row]
            flags[i] = found[row]
        if progress is not None:
            progress(len(members), nt)
    for i, item in enumerate(window):
        if isinstance(item, Record):
            yield Scored(item.id, item.header, item.length, item.source, item.number, probs[i], flags[i])  # type: ignore[arg-type]
        else:
            yield item


def predict_stream(
    items: Iterable[Item],
    session: ModelSession,
    config: BatchConfig = BatchConfig(),
    *,
    on_error: str = "fail",
    progress: Optional[Progress] = None,
    workers: int = 1,
) -> Iterator[Union[Scored, RecordError]]:
    """Score records lazily, in input order.

    ``workers`` threads run a window's model calls side by side on the one session
    (:mod:`rnaloc_infer.parallel`); up to 4 workers the batches, and so the output, do not
    depend on it; beyond, ``batch_nt`` is shared among the calls in flight (memory bound).
    Records longer than ``chunk_nt`` take one worker each. With several workers the next
    window is read, and its calls started, while this one's run and its results are used
    (:func:`~rnaloc_infer.parallel.run_windows`): two windows are then held at once, and a
    bad record (``on_error="fail"``) raises before the window in front of it is yielded.

    ``on_error="fail"`` raises the first bad record's InputError; ``"skip"`` passes
    RecordError items through in their input position, so every record comes out either as
    a Scored or as a RecordError.
    """
    from .fasta import RecordError
    from .parallel import run_windows

    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")

    def windows() -> Iterator[Tuple[List[Item], List[Callable[[], _Done]]]]:
        window: List[Item] = []
        window_nt = 0
        for item in items:
            if isinstance(item, RecordError):
                if on_error == "fail":
                    raise item.to_exception()
            else:
                window_nt += item.length
            window.append(item)
            if len(window) >= config.window_records or window_nt >= config.window_nt:
                yield window, _window_jobs(window, session, config, workers)
                window = []
                window_nt = 0
        if window:
            yield window, _window_jobs(window, session, config, workers)

    # closing: a consumer that stops early (an error while writing) stops the threads at once
    with contextlib.closing(run_windows(windows(), workers)) as scored:
        for window, done in scored:
            yield from _window_items(window, done, progress)
