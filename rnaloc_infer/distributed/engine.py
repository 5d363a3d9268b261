"""Distributed prediction on Ray Data: the same runtime, many processes or machines.

Why Ray Data rather than a scheduler of our own: it already streams blocks between stages
with backpressure, keeps one model per actor for the whole run, places GPU actors, retries
lost tasks, keeps output order when asked to (``preserve_order``) and writes Parquet. The
pipeline is:

1. **plan** (driver): inputs are cut into shards (:mod:`rnaloc_infer.distributed.shards`): uncompressed
   files into byte ranges at record boundaries, compressed files whole. Every record keeps
   its global index ``(file_index, record_number)``, the single-process numbering.
2. **read** (Ray tasks, one per shard): the runtime's FASTA parser turns a shard into Arrow
   record blocks of at most ``block_records`` records / ``block_nt`` nucleotides.
3. **score** (a pool of ``num_workers`` actors, ``map_batches`` with a callable class): each
   actor loads the ONNX model once (:class:`~rnaloc_infer.session.ModelSession`, on CPU or,
   with ``num_gpus_per_worker``, on CUDA) and scores each block with the runtime's own
   length-sorted batching (:func:`~rnaloc_infer.batching.predict_stream`, the block being the
   look-ahead window).
4. **write**: Parquet shards (``shard_dir``) and/or one merged file in input order written by
   the runtime's :class:`~rnaloc_infer.writers.ResultWriter`, so the merged file has exactly
   the columns, header and number formatting of ``rnaloc-infer --engine local``.

Ray is imported inside functions: ``import rnaloc_infer`` never needs it, and a missing Ray
becomes one line telling the user to install the ``[ray]`` extra.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from ..batching import ON_ERROR, BatchConfig, predict_stream
from ..errors import EXIT_USAGE, InputError, NoResults, OutputError, RnalocError
from ..fasta import DuplicateIds, RecordError
from ..output.summary import RunSummary
from .shards import SHARD_BYTES, Shard, plan_shards, read_shard

log = logging.getLogger(__name__)

PathArg = Union[str, "os.PathLike[str]"]
INSTALL_HINT = "pip install 'rnaloc-infer[ray]'"
BLOCK_RECORDS = 2_000  # records per block: the unit of work an actor scores at once ...
BLOCK_NT = 4_000_000  # ... and its nucleotide cap (bounded memory per block)


class RayNotInstalled(RnalocError, ImportError):
    """The Ray engine was requested but Ray (the ``[ray]`` extra) is not installed."""

    exit_code = EXIT_USAGE


def require_ray() -> Any:
    """Import ray (with Ray Data) or raise a one-line RayNotInstalled."""
    try:
        import ray
        import ray.data  # noqa: F401  (the data library is a separate extra of ray)
    except ImportError as exc:
        raise RayNotInstalled(f"the Ray engine needs Ray Data ({exc}); install it with: {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class DistributedSummary:
    """What a distributed run did (the CLI logs it like the single-process summary)."""

    records: int
    skipped: int
    nt: int
    seconds: float
    shards: int
    workers: int
    output: Optional[str]
    shard_dir: Optional[str]
    run: Optional[RunSummary] = None  # per-class label counts etc., as the local engine reports them

    @property
    def nt_per_s(self) -> float:
        return self.nt / max(self.seconds, 1e-9)


class RemoteError(Exception):
    """Carries an RnalocError from a Ray worker to the driver.

    The runtime's errors take several constructor arguments, so they cannot be unpickled by
    Ray (which would hand users an "UnserializableException" instead of the message that
    names the file and record). This carrier pickles plain fields and rebuilds the original.
    """

    def __init__(self, kind: str, fields: Dict[str, Any]):
        super().__init__(kind, fields)
        self.kind = kind
        self.fields = fields

    @classmethod
    def wrap(cls, exc: RnalocError) -> "RemoteError":
        if isinstance(exc, InputError):
            return cls("InputError", {"source": exc.source, "problem": exc.problem, "record": exc.record, "number": exc.number})
        return cls(type(exc).__name__, {"message": str(exc)})

    def rebuild(self) -> RnalocError:
        from .. import errors

        if self.kind == "InputError":
            return InputError(**self.fields)
        cls = getattr(errors, self.kind, RnalocError)
        return cls(self.fields["message"])


@contextlib.contextmanager
def _portable_errors() -> Iterator[None]:
    """Inside Ray workers: re-raise RnalocErrors as picklable RemoteErrors."""
    try:
        yield
    except RnalocError as exc:
        raise RemoteError.wrap(exc) from None


# -- stage 2: read --------------------------------------------------------------------------
def read_blocks(batch: Any, block_records: int = BLOCK_RECORDS, block_nt: int = BLOCK_NT) -> Iterator[Any]:
    """Ray task body: shard rows in, Arrow record blocks out (a generator, so blocks stream)."""
    from .arrow_blocks import records_to_table

    for row in batch.to_pylist():
        shard = Shard(**row)
        items: list = []
        nt = 0
        with _portable_errors():
            for item in read_shard(shard):
                items.append(item)
                nt += getattr(item, "length", 0)
                if len(items) >= block_records or nt >= block_nt:
                    yield records_to_table(items, shard.file_index)
                    items, nt = [], 0
        if items:
            yield records_to_table(items, shard.file_index)


# -- stage 3: score -------------------------------------------------------------------------
class BlockScorer:
    """Ray actor body: one ModelSession per actor, reused for every block it is given."""

    def __init__(self, model: str, device: str, threads: Optional[int], batch_nt: int, chunk_nt: int):
        from ..bundled import resolve_model
        from ..session import ModelSession

        with _portable_errors():
            self.session = ModelSession(resolve_model(model), device=device, threads=threads)
        self.batch_nt = batch_nt
        self.chunk_nt = chunk_nt

    def __call__(self, table: Any) -> Any:
        from .arrow_blocks import results_to_table, table_to_records

        items = table_to_records(table)
        # The whole block is one look-ahead window: sorted by length, cut by the token budget.
        config = BatchConfig(batch_nt=self.batch_nt, window_records=max(1, len(items)), window_nt=1 << 62, chunk_nt=self.chunk_nt)
        scored = predict_stream(items, self.session, config, on_error="skip")
        info = self.session.info
        return results_to_table(scored, table.column("file_index").to_pylist(), info.classes, info.thresholds)


# -- cluster connection ---------------------------------------------------------------------
@contextlib.contextmanager
def ray_session(address: Optional[str] = None, num_cpus: Optional[int] = None) -> Iterator[Any]:
    """Use a running Ray (already initialised), connect to ``address`` (or ``$RAY_ADDRESS``,
    Ray's own convention), or start a local one.

    Only a cluster started or connected here is shut down on exit; a caller's own
    ``ray.init`` (a notebook, a test fixture) is left alone. A local start says
    ``address="local"``: a plain ``ray.init(num_cpus=...)`` would try to join a cluster it
    happens to reach and then refuse the CPU count.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: Dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        kwargs.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1)
    else:
        kwargs["address"] = address
    ray.init(**kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def _user_error(exc: BaseException) -> Optional[RnalocError]:
    """The RnalocError raised inside a Ray task/actor, found in Ray's exception chain."""
    seen = set()
    stack: List[Optional[BaseException]] = [exc]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, RemoteError):
            return err.rebuild()
        if type(err).__module__ == RnalocError.__module__ and isinstance(err, RnalocError):
            return err
        stack.extend([err.__context__, err.__cause__, getattr(err, "cause", None)])
    return None


# -- stage 4: ordered output ----------------------------------------------------------------
def _write_ordered(
    tables: Iterator[Any],
    classes: Sequence[str],
    thresholds: Sequence[float],
    *,
    output: Optional[str],
    merge: bool,
    fmt: str,
    compress: bool,
    model: Dict[str, Any],
    on_error: str,
    errors_file: Optional[str],
    summary: RunSummary,
    before_commit: Optional[Callable[[Dict[str, Any], List[str], RunSummary], None]],
    prevalence: Optional[Sequence[float]] = None,
) -> Dict[str, int]:
    """Stream result blocks (already in input order) into the runtime's writers and reports;
    with ``prevalence`` each row also gets the relative profile (rnaloc_infer.profile)."""
    from ..profile import ProfileRow, profile_columns
    from .arrow_blocks import iter_results
    from ..output.sidecar import record_fields
    from ..writers import ResultWriter, SkipReport, atomic_output, predicted_labels

    profile_row = ProfileRow(prevalence) if prevalence is not None else None
    counts = {"records": 0, "nt": 0}
    duplicates = DuplicateIds()
    last = (-1, 0)
    columns: List[str] = []
    with contextlib.ExitStack() as stack:
        writer = None
        if merge:
            out = stack.enter_context(atomic_output(output, compress=compress))
            writer = ResultWriter(out, fmt, classes, thresholds, record_fields=record_fields(model), name=output or "standard output",
                                  extra_columns=profile_columns(classes) if prevalence is not None else ())
            columns = writer.columns
        skipped = SkipReport.to_file(stack, errors_file)
        for table in tables:
            for file_index, item in iter_results(table, classes):
                key = (file_index, item.number)
                if key <= last:
                    raise RuntimeError(f"distributed results out of order at {item.source} record #{item.number}")
                last = key
                if isinstance(item, RecordError):
                    if on_error == "fail":
                        raise item.to_exception()
                    skipped.add(item)
                    summary.skip()
                    continue
                duplicates.check(item.id, item.source, item.number)
                counts["records"] += 1
                counts["nt"] += item.length
                if writer is not None:
                    extra = profile_row(item.probs) if profile_row is not None else ()
                    summary.add(item.length, writer.write(item.id, item.length, item.probs, extra, applicability=item.applicability),
                                item.applicability)
                else:
                    summary.add(item.length, predicted_labels(item.probs, classes, thresholds), item.applicability)
        if counts["records"] == 0 and skipped.count:
            raise NoResults(f"no results: all {skipped.count:,} records were skipped as bad records; no output written")
        if writer is not None:
            writer.finish()
        summary.finish()
        if before_commit is not None:  # e.g. the CLI's metadata sidecar, in place before the output
            before_commit(model, columns, summary)
    duplicates.finish()
    skipped.finish()
    counts["skipped"] = skipped.count
    return counts


def _check_shard_dir(shard_dir: Optional[str]) -> None:
    if shard_dir is None:
        return
    path = Path(shard_dir)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise OutputError(f"cannot write shards to {shard_dir}: exists and is not an empty directory")


def _default_workers(ray: Any, num_gpus_per_worker: float, threads_per_worker: int) -> int:
    resources = ray.cluster_resources()
    if num_gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) // num_gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // threads_per_worker))


# -- entry point ----------------------------------------------------------------------------
def predict_distributed(
    inputs: Sequence[PathArg],
    output: Optional[str] = None,
    *,
    model: str = "default",
    fmt: str = "tsv",
    compress: bool = False,
    address: Optional[str] = None,
    num_workers: Optional[int] = None,
    num_gpus_per_worker: float = 0.0,
    threads_per_worker: int = 1,
    shard_dir: Optional[str] = None,
    merge: bool = True,
    on_error: str = "fail",
    errors_file: Optional[str] = None,
    batch_nt: int = BatchConfig.batch_nt,
    chunk_nt: int = BatchConfig.chunk_nt,
    block_records: int = BLOCK_RECORDS,
    block_nt: int = BLOCK_NT,
    shard_bytes: int = SHARD_BYTES,
    num_cpus: Optional[int] = None,
    progress: bool = True,
    before_commit: Optional[Callable[[Dict[str, Any], List[str], RunSummary], None]] = None,
    profile: bool = False,
) -> DistributedSummary:
    """Predict FASTA files on a Ray cluster; the merged output equals the local runtime's.

    ``address=None`` starts a local Ray with ``num_cpus`` (default: all cores) and stops it at
    the end, so the same call works on a laptop; ``"auto"`` or ``"ray://host:10001"`` joins a
    running cluster (inputs, model and ``shard_dir`` must then be on storage every node sees).
    ``output`` (None or "-" = standard output) receives the merged table when ``merge``;
    ``shard_dir`` (a new or empty directory) receives Parquet shards with the global index
    columns ``file_index``/``record_number`` and a ``problem`` column for bad records.
    ``on_error="fail"`` raises the InputError of the first bad record in input order, as the
    runtime does; ``"skip"`` reports bad records (and lists them in ``errors_file``).
    ``compress`` gzips the merged file. ``before_commit(model, columns, summary)`` runs after
    the last row, before the output is renamed into place (the CLI writes its sidecar there).
    ``profile`` adds the relative compartment profile columns to the merged table, as
    ``rnaloc-infer --profile`` (not to the Parquet shards).
    """
    from ..bundled import resolve_model
    from ..output.sidecar import model_identity
    from ..profile import require_prevalence
    from ..session import ModelSession
    from ..writers import FORMATS

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if not merge and shard_dir is None:
        raise ValueError("merge=False needs shard_dir (otherwise nothing would be written)")
    if num_gpus_per_worker < 0 or threads_per_worker < 1 or (num_workers is not None and num_workers < 1):
        raise ValueError("num_gpus_per_worker must be >= 0, threads_per_worker and num_workers >= 1")
    BatchConfig(batch_nt=batch_nt, chunk_nt=chunk_nt)  # validates like the runtime
    require_ray()
    _check_shard_dir(shard_dir)

    model_path = resolve_model(model)
    info = ModelSession(model_path, device="cpu", threads=1).info  # fail on a bad model before any work
    from .arrow_blocks import check_classes

    check_classes(info.classes)
    if profile:
        require_prevalence(model_path, info.prevalence)
    identity = model_identity(os.fspath(model), model_path, info)
    # A bundled name is resolved again by each worker (its own installation); a path is made absolute.
    bundled = Path(os.fspath(model)) != model_path
    worker_model = os.fspath(model) if bundled else os.path.abspath(model_path)
    device = "cuda" if num_gpus_per_worker > 0 else "cpu"

    paths = [os.fspath(p) for p in inputs]
    shards = plan_shards(paths, shard_bytes)
    log.info("%d input file(s) in %d shard(s)", len(paths), len(shards))

    started = time.perf_counter()
    run_summary = RunSummary(info.classes)
    options = dict(output=output, merge=merge, fmt=fmt, compress=compress, model=identity, on_error=on_error,
                   errors_file=errors_file, summary=run_summary, before_commit=before_commit,
                   prevalence=info.prevalence if profile else None)
    with ray_session(address, num_cpus) as ray:
        workers = num_workers or _default_workers(ray, num_gpus_per_worker, threads_per_worker)
        if not shards:
            counts = _write_ordered(iter(()), info.classes, info.thresholds, **options)
        else:
            counts = _run(ray, shards, info, options, worker_model=worker_model, device=device, workers=workers,
                          num_gpus_per_worker=num_gpus_per_worker, threads_per_worker=threads_per_worker, batch_nt=batch_nt,
                          chunk_nt=chunk_nt, block_records=block_records, block_nt=block_nt, shard_dir=shard_dir, progress=progress)
    seconds = time.perf_counter() - started
    summary = DistributedSummary(counts["records"], counts["skipped"], counts["nt"], seconds, len(shards), workers,
                                 output if merge else None, shard_dir, run_summary)
    # The counts themselves are in summary.run (the CLI prints them like the local engine's).
    log.info("ran on %d Ray worker(s) over %d shard(s) in %.1f s", workers, len(shards), seconds)
    return summary


def _run(ray: Any, shards: List[Shard], info: Any, options: Dict[str, Any], *, worker_model: str, device: str, workers: int,
         num_gpus_per_worker: float, threads_per_worker: int, batch_nt: int, chunk_nt: int, block_records: int,
         block_nt: int, shard_dir: Optional[str], progress: bool) -> Dict[str, int]:
    """Build and execute the Ray Data pipeline, then write results in input order."""
    context = ray.data.DataContext.get_current()
    data_log = logging.getLogger("ray.data")
    saved = (context.execution_options.preserve_order, context.enable_progress_bars, data_log.level)
    context.execution_options.preserve_order = True  # blocks come out in shard order = input order
    context.enable_progress_bars = progress
    if not progress:  # quiet runs (-q): Ray Data's per-run INFO lines are noise too
        data_log.setLevel(logging.WARNING)
    try:
        ds = ray.data.from_items([asdict(s) for s in shards], override_num_blocks=len(shards))
        # Reading is light next to the model: reader tasks take no CPU slot (so a pool that
        # fills every core cannot starve them) and at most `workers` run at once.
        ds = ds.map_batches(read_blocks, batch_size=None, batch_format="pyarrow", fn_kwargs={"block_records": block_records, "block_nt": block_nt},
                            num_cpus=0, compute=ray.data.TaskPoolStrategy(size=max(1, min(workers, len(shards)))))
        ds = ds.map_batches(BlockScorer, batch_size=None, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers),
                            num_cpus=threads_per_worker, num_gpus=num_gpus_per_worker or None,
                            fn_constructor_kwargs={"model": os.fspath(worker_model), "device": device, "threads": threads_per_worker,
                                                   "batch_nt": batch_nt, "chunk_nt": chunk_nt})
        try:
            if shard_dir is not None:
                ds = ds.materialize()
                ds.write_parquet(shard_dir)
                log.info("wrote Parquet shards to %s", shard_dir)
            tables = ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=2)
            return _write_ordered(tables, info.classes, info.thresholds, **options)
        except RnalocError:
            raise
        except Exception as exc:
            user = _user_error(exc)
            if user is None:
                raise
            raise user from None
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars, level = saved
        data_log.setLevel(level)
