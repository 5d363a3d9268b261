"""The one run path: what happens to every scored record and every bad one, whichever engine.

Why one object: the per-row policy (out of range, labels, profile and annotation columns),
the writer, the summary, the errors report and the sidecar used to live in the CLI between
``predict_stream`` and the writer, with a second copy in the Ray engine, a third in
explain and none at all in ``rnaloc-train evaluate``. Each copy kept some promises and broke
others. Now ``rnaloc-infer`` (local and Ray), ``rnaloc-explain`` and ``rnaloc-train
evaluate`` hand their results to a :class:`RunPath`, opened with :func:`open_run`, and
differ only in how they score and what else they write (explain's per-record directories,
evaluate's metrics); the Python API applies the same :func:`row_policy`.

Order of events (the promises in docs/TROUBLESHOOTING.md):

1. before any work: :func:`resolve_run_output` (no output is an input, standard streams
   included; every output's directory writable; the format is one the name promises);
2. rows go to a temporary file beside the output (standard output: straight out, counted,
   so an interruption can say how many rows went out);
3. at the end: no row at all is :class:`~rnaloc_infer.errors.NoResults` (exit 5; the
   errors file is still written); otherwise the output is renamed into place, and only then
   the sidecar is written beside it, naming the output's own sha256, so a stale or foreign
   sidecar can be told (an old sidecar is removed before the rename, and the rename and the
   sidecar are one step under a lock on the directory, so two runs writing the same path
   never leave one's table beside the other's sidecar).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Protocol, Sequence, Tuple, Union

import numpy as np

from ..applicability import OUT_OF_RANGE_POLICIES
from ..errors import NoResults, OutputError, UsageProblem, output_error
from ..fasta import RecordError
from ..modelfile.digest import file_sha256
from .errors_report import MAX_ERRORS_SHOWN, SkipReport
from .files import STREAM, atomic_output, check_paths, is_special
from .formats import OutputSpec, make_writer
from .summary import RunSummary
from .tables import predicted_labels

log = logging.getLogger("rnaloc_infer.run")


@dataclass
class RunOptions:
    """What one prediction run does: the options of ``rnaloc-infer``, for every engine.

    The CLI builds it from the command line, the Python API and ``predict_distributed`` take
    it as it is, so an option means the same on both engines.
    """

    inputs: Sequence[str]
    output: Optional[str] = None  # None or "-": standard output
    model: str = "default"
    fmt: Optional[str] = None  # None: from the output's extension (rnaloc_infer.output.formats)
    metadata: Optional[str] = None  # sidecar path; None: OUTPUT.json beside a file output
    device: str = "auto"
    threads: Optional[int] = None  # cores to use (worker threads locally, per actor on Ray)
    precision: str = "auto"  # auto: the model's int8 (CPU) / fp16 (CUDA) twin when it ships one
    # batching.BatchConfig's defaults (tests/test_cli.py keeps them equal; not imported: the
    # output layer stays below the engine that feeds it)
    batch_nt: int = 65_536
    window_records: int = 20_000
    window_nt: int = 16_000_000
    chunk_nt: int = 65_536
    on_error: str = "fail"
    errors_file: Optional[str] = None
    out_of_range: str = "keep"  # keep (probabilities, no labels) | label | drop | error
    profile: bool = False  # add the relative compartment profile columns (rnaloc_infer.profile)
    progress: bool = True
    annotation: Optional[Any] = None  # genome input: cli.genome_options.AnnotationOptions
    isoforms: Optional[str] = None  # genome input: the per-gene isoform report (rnaloc_infer.genome.isoforms)
    engine: str = "local"  # "ray": rnaloc_infer.distributed.engine (docs/DISTRIBUTED.md)
    address: Optional[str] = None
    num_workers: Optional[int] = None
    num_gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        if self.out_of_range not in OUT_OF_RANGE_POLICIES:
            raise ValueError(f"out_of_range must be one of {OUT_OF_RANGE_POLICIES}, got {self.out_of_range!r}")

    def record(self) -> Dict[str, Any]:
        """The options as the sidecar records them (inputs and output have their own entries)."""
        record = asdict(self)
        for key in ("inputs", "output", "progress", "metadata"):
            record.pop(key, None)
        return record


def sidecar_target(options: RunOptions, spec: OutputSpec) -> Optional[str]:
    """--metadata PATH, else OUTPUT.json beside a file output; none for standard output or a
    special file such as /dev/null."""
    from .sidecar import sidecar_path

    if options.metadata:
        return options.metadata
    if spec.path is None or is_special(spec.path):
        return None
    return sidecar_path(spec.path)


def resolve_run_output(options: RunOptions, inputs: Sequence[tuple], *, create_dir: bool = False) -> OutputSpec:
    """Before any work: no output is an input (or another output), through standard input and
    output too (checked first: the most important refusal); the output's name promises a
    format this tool writes; every output can be written. ``inputs``: (kind, path) of every
    file read. ``create_dir``: the table's directory may not exist yet (explain's OUT_DIR,
    evaluate's --out-dir: ``open_run(create_dir=True)`` makes it); then it must be creatable.
    Returns where and how the table goes."""
    from .files import refuse_overwrite
    from .formats import resolve_output

    given = [("output", options.output or STREAM), ("errors file", options.errors_file),
             ("metadata file", options.metadata), ("isoform report", options.isoforms)]
    refuse_overwrite(given, inputs)
    spec = resolve_output(options.output, options.fmt)
    if options.isoforms is not None:
        report_compression(options.isoforms)
        if options.isoforms == STREAM and spec.path is None:
            raise UsageProblem("--isoforms - and the output both go to standard output: give one of them a file")
    outputs = given[:2] + [("metadata file", sidecar_target(options, spec)), given[3]]
    folder = _missing_folder(spec) if create_dir else None
    if folder is not None:
        _check_creatable(folder)
        outputs = [(kind, path) for kind, path in outputs
                   if path is None or path == STREAM or os.path.dirname(os.path.abspath(path)) != folder]
    check_paths(outputs, inputs)
    return spec


def report_compression(path: str) -> Optional[str]:
    """The compression a report's name asks for (``.tsv.gz`` -> gzip); a usage error (exit 2)
    for a name that promises another format than TSV. Standard output and special files: none
    (a directory is refused by files.check_writable, exit 3)."""
    from .formats import format_from_extension, split_suffixes

    if path == STREAM or is_special(path) or os.path.isdir(path):
        return None
    if format_from_extension(path) != "tsv":
        raise UsageProblem(f"cannot write isoform report {path}: it is a TSV table; name it .tsv "
                           "(optionally .gz, .bz2, .xz or .zst)")
    return split_suffixes(path)[0]


class RowReport(Protocol):
    """A second table made from the rows of the main output, written when the run succeeds
    (e.g. rnaloc_infer.genome.isoforms.IsoformReport): the run path owns the file, the
    report its content. ``kind`` names it in messages ("isoform report")."""

    kind: str

    def add(self, record_id: str, probs: np.ndarray, flags: Optional[Sequence[str]] = None) -> None: ...

    def write(self, stream: IO[str]) -> int: ...



def _missing_folder(spec: OutputSpec) -> Optional[str]:
    """The table's directory when it does not exist yet, else None."""
    if spec.path is None or is_special(spec.path):
        return None
    folder = os.path.dirname(os.path.abspath(spec.path))
    return None if os.path.isdir(folder) else folder


def _check_creatable(folder: str) -> None:
    """OutputError (exit 3) unless the nearest existing ancestor of ``folder`` is a writable directory."""
    ancestor = folder
    while not os.path.lexists(ancestor) and os.path.dirname(ancestor) != ancestor:
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise OutputError(f"cannot create {folder}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create {folder}: directory {ancestor} is not writable")


@contextlib.contextmanager
def _output_folder(spec: OutputSpec, create: bool) -> Iterator[None]:
    """With ``create``: make the table's directory when missing, and remove what was made
    again (if still empty) when the run fails, so a refused or failed run leaves nothing."""
    folder = _missing_folder(spec) if create else None
    if folder is None:
        yield
        return
    made = []
    below = folder
    while not os.path.lexists(below):
        made.append(below)
        below = os.path.dirname(below)
    try:
        os.makedirs(folder)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror or exc}") from None
    try:
        yield
    except BaseException:
        for path in made:  # innermost first; a directory something was written into stays
            with contextlib.suppress(OSError):
                os.rmdir(path)
        raise


@dataclass
class RowCount:
    """How many rows went to standard output: what an interruption there must report."""

    rows: int = 0
    to_stream: bool = False

    def stopped(self) -> str:
        if self.to_stream and self.rows:
            return f"output incomplete: {self.rows:,} rows written to standard output"
        return "no output written"


class _HashingStream:
    """Standard output with a running sha256 of what went out (the sidecar's digest)."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        self.digest.update(text.encode("utf-8"))
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()


def row_policy(flags: Optional[Sequence[str]], policy: str) -> Tuple[str, bool]:
    """What ``--out-of-range POLICY`` does with a record of these applicability flags:
    ("keep" | "drop" | "error", whether it gets labels). The one rule, for the run path and
    the Python API alike."""
    if not flags:
        return "keep", True
    if policy in ("drop", "error"):
        return policy, False
    return "keep", policy == "label"


def out_of_range_error(item: Any) -> RecordError:
    """--out-of-range error: a flagged record becomes a bad record (stops the run, or is
    skipped and listed with --on-error skip)."""
    problem = f"outside the model's training range ({','.join(item.applicability or ())}; --out-of-range error)"
    return RecordError(item.source, item.number, item.id, problem)


@dataclass
class RunPath:
    """Receives scored records and skip events of one run; owns what happens to each."""

    options: RunOptions
    spec: OutputSpec
    model: Dict[str, Any]  # output.sidecar.model_identity
    classes: Sequence[str]
    thresholds: Sequence[float]
    writer: Any
    skipped: SkipReport
    summary: RunSummary
    profile_row: Optional[Callable[[Any], List[float]]] = None
    annotation_fields: Optional[Callable[[str], List[Any]]] = None
    count: RowCount = field(default_factory=RowCount)
    reports: Sequence[RowReport] = ()  # fed every row written (open_run's ``reports``)

    def add(self, item: Any) -> bool:
        """One result in input order: a ``Scored`` record or a ``RecordError``. Returns whether
        the record got its row (False: skipped or dropped), for a command that does more
        with the records it keeps (explain explains them, evaluate scores them)."""
        if isinstance(item, RecordError):
            self._skip(item)
            return False
        flags = item.applicability
        action, labelled = row_policy(flags, self.options.out_of_range)
        if action == "drop":
            self.summary.drop(flags)
            return False
        if action == "error":
            self.summary.flag(flags)
            self._skip(out_of_range_error(item))
            return False
        labels = predicted_labels(item.probs, self.classes, self.thresholds) if labelled else None
        extra = self.annotation_fields(item.id) if self.annotation_fields is not None else []
        if self.profile_row is not None:
            extra = [*extra, *self.profile_row(item.probs)]
        self.writer.write(item.id, item.length, item.probs, extra, applicability=flags, labels=labels)
        for report in self.reports:
            report.add(item.id, item.probs, flags)
        self.count.rows += 1
        self.summary.add(item.length, labels, flags)
        return True

    def _skip(self, error: RecordError) -> None:
        if self.options.on_error == "fail":
            raise error.to_exception()
        self.skipped.add(error)
        self.summary.skip()

    def nothing_left_message(self) -> str:
        """Why a run produced no row at all, for the NoResults error (exit 5)."""
        summary, parts = self.summary, []
        if summary.skipped:
            parts.append(f"{summary.skipped:,} skipped as bad records"
                         + (" or outside the model's range (--out-of-range error)" if self.options.out_of_range == "error" else "")
                         + (", listed in the messages above" if summary.skipped <= MAX_ERRORS_SHOWN else "")
                         + (f" and in {self.options.errors_file}" if self.options.errors_file else ""))
        if summary.dropped:
            parts.append(f"{summary.dropped:,} dropped by --out-of-range drop (outside the model's training range)")
        total = summary.skipped + summary.dropped
        return f"no results: all {total:,} records were left out ({'; '.join(parts)}); no output written"

    def log_summary(self) -> None:
        """The closing stderr lines: warnings about what was left out, then the run summary."""
        summary = self.summary
        if summary.records == 0 and summary.skipped == 0 and summary.dropped == 0:
            log.warning("no records found in %s", ", ".join(map(str, self.options.inputs)))
        if summary.flagged:
            scored = summary.records + summary.dropped
            log.warning("%s of %s records are outside the model's training range (applicability column%s)",
                        f"{summary.flagged:,}", f"{scored:,}",
                        {"drop": "; dropped", "error": "; reported as errors", "label": "; labelled anyway",
                         "keep": "; scored, not labelled"}[self.options.out_of_range])
        log.info("model %s (%s)", self.model.get("label", self.model.get("name")), self.model.get("precision", "fp32"))
        for line in summary.lines():
            log.info("%s", line)


@contextlib.contextmanager
def _directory_lock(path: str) -> Iterator[None]:
    """An exclusive lock on the output's directory, held only for the rename + sidecar step."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def open_run(options: RunOptions, spec: OutputSpec, model: Dict[str, Any], classes: Sequence[str],
             thresholds: Sequence[float], *, prevalence: Optional[Sequence[float]] = None,
             class_prevalence: Optional[Sequence[float]] = None, annotation_columns: Sequence[str] = (), annotation_fields: Optional[Callable[[str], List[Any]]] = None,
             engine: str = "local", count: Optional[RowCount] = None,
             reports: Sequence[Tuple[str, RowReport]] = (), tool: str = "rnaloc-infer",
             command_options: Optional[Dict[str, Any]] = None, create_dir: bool = False) -> Iterator[RunPath]:
    """A :class:`RunPath` for one run; the output appears whole when the block ends without error.

    The block feeds it results (``run.add``); at the end this checks that some row came
    (else NoResults, exit 5, the errors file still written), renames the output into place
    and writes the sidecar beside it.

    ``prevalence``: the model's training prevalence when the run asked for the relative
    profile (``--profile``: the ``level`` and ``rel_`` columns). ``class_prevalence``: the
    same numbers whenever the model has them, whatever the options; BED/GFF3 rank their
    ``top_class`` and score by the lift over the prior with it (tables ignore it).

    ``reports``: (path, :class:`RowReport`) pairs, e.g. ``--isoforms``: each report sees every
    row written and is written at the end, to a temporary file renamed into place just after
    the output (a failed or interrupted run leaves none; paths checked by
    :func:`resolve_run_output`).
    ``tool`` and ``command_options``: the command that ran and its options beyond
    :class:`RunOptions` (explain's ``max_length``, evaluate's ``labels``), as the sidecar
    records them: one sidecar schema for every command. ``create_dir``: make the table's
    directory if missing (removed again, if empty, when the run fails).
    """
    from ..profile import ProfileRow, profile_columns
    from .sidecar import record_fields, remove_stale_sidecar, run_metadata, write_sidecar

    count = count if count is not None else RowCount()
    count.to_stream = spec.path is None
    sidecar = sidecar_target(options, spec)
    summary = RunSummary(classes)
    extra_columns = list(annotation_columns) + (profile_columns(classes) if prevalence is not None else [])
    holder: Dict[str, Any] = {}
    streamed = spec.path is None or is_special(spec.path)  # written in place: no rename, hash as it goes

    def write_metadata(digest: Optional[str]) -> None:
        annotation = getattr(options.annotation, "annotation", None)
        write_sidecar(sidecar, run_metadata(model=model, inputs=options.inputs, output=spec, columns=holder["columns"],
                                            options={**options.record(), "fmt": spec.fmt, **(command_options or {})},
                                            summary=summary, engine=engine, annotation=annotation, output_sha256=digest,
                                            tool=tool))

    def publish(rename: Callable[[], None]) -> None:
        """Under the directory lock: the old sidecar goes, the output comes, its sidecar follows."""
        if not sidecar:
            rename()
            return
        with _directory_lock(spec.path):
            remove_stale_sidecar(sidecar)
            rename()
            write_metadata(file_sha256(spec.path))

    with contextlib.ExitStack() as stack:
        stack.enter_context(_output_folder(spec, create_dir))
        skipped = SkipReport.to_file(stack, options.errors_file)
        report_streams = [(path, report, stack.enter_context(atomic_output(path, compression=report_compression(path),
                                                                           name=f"{report.kind} {path}")))
                          for path, report in reports]
        with atomic_output(spec.path, compression=spec.compression, name=spec.name,
                           publish=None if streamed else publish) as raw:
            stream: Union[IO[str], _HashingStream] = _HashingStream(raw) if streamed and sidecar else raw
            writer = make_writer(spec.fmt, stream, classes, thresholds, extra_columns=extra_columns,
                                 record_fields=record_fields(model), name=spec.name,
                                 prevalence=class_prevalence if class_prevalence is not None else prevalence)
            holder["columns"] = writer.columns
            run = RunPath(options, spec, model, classes, thresholds, writer, skipped, summary,
                          profile_row=ProfileRow(prevalence) if prevalence is not None else None,
                          annotation_fields=annotation_fields, count=count,
                          reports=[report for _, report, _ in report_streams])
            yield run
            if summary.records == 0 and summary.skipped + summary.dropped:
                raise NoResults(run.nothing_left_message())
            writer.finish()
            for path, report, report_stream in report_streams:  # inside: a failed report keeps the output back too
                try:
                    report.write(report_stream)
                except OSError as exc:
                    raise output_error(f"{report.kind} {path}", exc) from None
            summary.finish()
        if sidecar and streamed:  # standard output or a special file: the digest of what went out
            write_metadata(stream.digest.hexdigest() if isinstance(stream, _HashingStream) else None)
    skipped.finish()
    run.log_summary()
