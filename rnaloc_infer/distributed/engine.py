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
   the run path (:mod:`rnaloc_infer.output.run`), so the merged file has exactly
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
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from ..batching import ON_ERROR, BatchConfig, predict_stream
from ..errors import EXIT_USAGE, InputError, OutputError, RnalocError
from ..fasta import DuplicateIds, RecordError
from ..output.formats import OutputSpec
from ..output.run import RowCount, RunOptions
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

    def __init__(self, model: str, device: str, threads: int, batch_nt: int, chunk_nt: int, reduced: bool = True,
                 prevalence: Optional[Sequence[float]] = None):
        from ..bundled import resolve_model
        from ..session import ModelSession

        with _portable_errors():
            # --threads = cores per actor, used as rnaloc-infer uses them: one-thread session,
            # that many worker threads calling it (docs/PERFORMANCE.md, "All cores")
            self.session = ModelSession(resolve_model(model), device=device, intra_op_threads=1,
                                        prefer_fp16=reduced, prefer_int8=reduced)
        self.workers = threads
        self.batch_nt = batch_nt
        self.chunk_nt = chunk_nt
        self.prevalence = prevalence

    def __call__(self, table: Any) -> Any:
        from .arrow_blocks import results_to_table, table_to_records

        items = table_to_records(table)
        # The whole block is one look-ahead window: sorted by length, cut by the token budget.
        config = BatchConfig(batch_nt=self.batch_nt, window_records=max(1, len(items)), window_nt=1 << 62, chunk_nt=self.chunk_nt)
        scored = predict_stream(items, self.session, config, on_error="skip", workers=self.workers)
        info = self.session.info
        return results_to_table(scored, table.column("file_index").to_pylist(), info.classes, info.thresholds,
                                prevalence=self.prevalence, model_file=(info.precision, str(info.path)))


# -- cluster connection ---------------------------------------------------------------------
@contextlib.contextmanager
def ray_session(address: Optional[str] = None, num_cpus: Optional[int] = None, quiet: bool = False) -> Iterator[Any]:
    """Use a running Ray (already initialised), connect to ``address`` (or ``$RAY_ADDRESS``,
    Ray's own convention), or start a local one.

    Only a cluster started or connected here is shut down on exit; a caller's own
    ``ray.init`` (a notebook, a test fixture) is left alone. A local start says
    ``address="local"``: a plain ``ray.init(num_cpus=...)`` would try to join a cluster it
    happens to reach and then refuse the CPU count. ``quiet`` (``-q``): errors only, from Ray's
    Python loggers and its workers' output (its Python warnings go through logging: the CLI's
    ``configure_logging``).
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: Dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR if quiet else logging.WARNING}
    if quiet:
        kwargs["log_to_driver"] = False
        for name in ("ray", "ray.data", "ray.train", "ray.tune"):
            logging.getLogger(name).setLevel(logging.ERROR)
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
def _feed_ordered(tables: Iterator[Any], classes: Sequence[str], run: Any, identity: Dict[str, Any]) -> None:
    """Hand result blocks (already in input order) to the run path, as the local engine does;
    the model identity takes the precision and file the actors ran (the sidecar names them)."""
    from .arrow_blocks import iter_results, table_model_file

    duplicates = DuplicateIds()
    last = (-1, 0)
    for table in tables:
        identity.update(table_model_file(table))
        for file_index, item in iter_results(table, classes):
            key = (file_index, item.number)
            if key <= last:
                raise RuntimeError(f"distributed results out of order at {item.source} record #{item.number}")
            last = key
            if not isinstance(item, RecordError):
                duplicates.check(item.id, item.source, item.number)
            run.add(item)
    duplicates.finish()


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
    options: RunOptions,
    *,
    spec: Optional[OutputSpec] = None,
    count: Optional[RowCount] = None,
    shard_dir: Optional[str] = None,
    merge: bool = True,
    block_records: int = BLOCK_RECORDS,
    block_nt: int = BLOCK_NT,
    shard_bytes: int = SHARD_BYTES,
    num_cpus: Optional[int] = None,
) -> DistributedSummary:
    """Predict FASTA files on a Ray cluster; the merged output equals the local engine's.

    ``options`` is the local engine's :class:`~rnaloc_infer.output.run.RunOptions`, so every
    option means the same here (``threads``: cores per actor; ``device`` is replaced by
    ``num_gpus_per_worker``: > 0 runs the actors on CUDA). ``address=None`` starts a local
    Ray with ``num_cpus`` (default: all cores) and stops it at the end, so the same call
    works on a laptop; ``"auto"`` or ``"ray://host:10001"`` joins a running cluster (inputs,
    model and ``shard_dir`` must then be on storage every node sees). The merged table (when
    ``merge``) goes through the run path (:func:`~rnaloc_infer.output.run.open_run`):
    out-of-range policy, profile columns, errors file, sidecar. ``shard_dir`` (a new or
    empty directory) receives Parquet shards with the global index columns
    ``file_index``/``record_number``, a ``problem`` column for bad records and, with
    ``profile``, the profile columns.
    """
    from ..bundled import resolve_model
    from ..output.run import open_run, resolve_run_output
    from ..output.sidecar import model_identity
    from ..profile import require_prevalence
    from ..session import ModelSession, twin_file

    if options.on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {options.on_error!r}")
    if not merge and shard_dir is None:
        raise ValueError("merge=False needs shard_dir (otherwise nothing would be written)")
    if options.isoforms is not None:
        raise ValueError("isoforms (the isoform report) needs genome input (--annotation), which the Ray engine does not read")
    threads = options.threads or 1
    if options.num_gpus_per_worker < 0 or threads < 1 or (options.num_workers is not None and options.num_workers < 1):
        raise ValueError("num_gpus_per_worker must be >= 0, threads and num_workers >= 1")
    BatchConfig(batch_nt=options.batch_nt, chunk_nt=options.chunk_nt)  # validates like the runtime
    require_ray()
    _check_shard_dir(shard_dir)
    model_path = resolve_model(options.model)
    if spec is None:
        spec = resolve_run_output(options, [("input", p) for p in options.inputs] + [
            ("model", model_path), ("model", twin_file(model_path, "fp16")), ("model", twin_file(model_path, "int8"))])
    reduced = options.precision == "auto"
    # fail on a bad model before any work; its metadata is the same in every twin
    info = ModelSession(model_path, device="cpu", intra_op_threads=1, prefer_fp16=False, prefer_int8=False).info
    from .arrow_blocks import check_classes

    check_classes(info.classes)
    prevalence = require_prevalence(model_path, info.prevalence) if options.profile else None
    identity = model_identity(os.fspath(options.model), model_path, info)
    # A bundled name is resolved again by each worker (its own installation); a path is made absolute.
    bundled = Path(os.fspath(options.model)) != model_path
    worker_model = os.fspath(options.model) if bundled else os.path.abspath(model_path)
    device = "cuda" if options.num_gpus_per_worker > 0 else "cpu"

    paths = [os.fspath(p) for p in options.inputs]
    shards = plan_shards(paths, shard_bytes)
    log.info("%d input file(s) in %d shard(s)", len(paths), len(shards))
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        ray = stack.enter_context(ray_session(options.address, num_cpus, quiet=not options.progress))
        workers = options.num_workers or _default_workers(ray, options.num_gpus_per_worker, threads)
        run = None
        if merge:
            run = stack.enter_context(open_run(options, spec, identity, info.classes, info.thresholds,
                                               prevalence=prevalence, engine="ray", count=count))
        scorer = {"model": worker_model, "device": device, "threads": threads, "batch_nt": options.batch_nt,
                  "chunk_nt": options.chunk_nt, "reduced": reduced, "prevalence": prevalence}
        if shards:
            _run(ray, shards, info, run, identity, scorer=scorer, workers=workers,
                 num_gpus_per_worker=options.num_gpus_per_worker, block_records=block_records, block_nt=block_nt,
                 shard_dir=shard_dir, progress=options.progress)
    seconds = time.perf_counter() - started
    summary = run.summary if run is not None else None
    result = DistributedSummary(summary.records if summary else 0, summary.skipped if summary else 0,
                                summary.nt if summary else 0, seconds, len(shards), workers,
                                spec.path if merge else None, shard_dir, summary)
    log.info("ran on %d Ray worker(s) over %d shard(s) in %.1f s", workers, len(shards), seconds)
    return result


def _run(ray: Any, shards: List[Shard], info: Any, run: Any, identity: Dict[str, Any], *, scorer: Dict[str, Any],
         workers: int, num_gpus_per_worker: float, block_records: int, block_nt: int, shard_dir: Optional[str],
         progress: bool) -> None:
    """Build and execute the Ray Data pipeline; results go to the run path in input order."""
    context = ray.data.DataContext.get_current()
    data_log = logging.getLogger("ray.data")
    saved = (context.execution_options.preserve_order, context.enable_progress_bars, data_log.level)
    context.execution_options.preserve_order = True  # blocks come out in shard order = input order
    context.enable_progress_bars = progress
    if not progress:  # quiet runs (-q): Ray Data's per-run INFO lines are noise too
        data_log.setLevel(logging.ERROR)
    try:
        ds = ray.data.from_items([asdict(s) for s in shards], override_num_blocks=len(shards))
        # Reading is light next to the model: reader tasks take no CPU slot (so a pool that
        # fills every core cannot starve them) and at most `workers` run at once.
        ds = ds.map_batches(read_blocks, batch_size=None, batch_format="pyarrow", fn_kwargs={"block_records": block_records, "block_nt": block_nt},
                            num_cpus=0, compute=ray.data.TaskPoolStrategy(size=max(1, min(workers, len(shards)))))
        # -q: actors that are not restarted. Ray's core logs an error line (straight to file
        # descriptor 2, past Python's logging) for every restartable actor whose constructor
        # arguments sit in the object store, as Ray Data's do; a quiet run trades restarts
        # after an actor crash (the run then fails with the error) for silence.
        restarts = {} if progress else {"max_restarts": 0}
        ds = ds.map_batches(BlockScorer, batch_size=None, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers),
                            num_cpus=scorer["threads"], num_gpus=num_gpus_per_worker or None,
                            fn_constructor_kwargs=scorer, **restarts)
        try:
            if shard_dir is not None:
                ds = ds.materialize()
                ds.write_parquet(shard_dir)
                log.info("wrote Parquet shards to %s", shard_dir)
            if run is not None:
                tables = ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=2)
                _feed_ordered(tables, info.classes, run, identity)
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
