"""ONNX Runtime session for an rnaloc model, validated against the contract up front.

Everything the runtime needs (classes, thresholds, stride, pad code, alphabet, state
shapes) is read from the model file itself, never from package constants, so a model
exported with other classes or another stride just works. Problems (corrupt file, missing
or inconsistent metadata, unexpected inputs) become one-line ModelErrors at load time,
before any input is read. See docs/DESIGN.md for the contract.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnxruntime as ort

from .alphabet import ALPHABET, PAD_CODE
from . import graph_cache
from .applicability import METADATA_KEY as APPLICABILITY_KEY
from .applicability import ApplicabilityRules
from .profile import METADATA_KEY as PREVALENCE_KEY
from .profile import parse_prevalence
from .bundled import TWIN_SUFFIXES, twin_path
from .features.registry import FEATURE_SETS, record_feature_matrix
from .errors import ModelError
from .graph_cache import CACHE_ENV  # noqa: F401  (re-exported: tests, docs)
from .modelfile.digest import file_sha256
from .modelfile.metadata import FP32_SHA256_KEY, THRESHOLDS_KEY, class_name_problem, parse_thresholds, read_metadata, unlabelled

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
SUPPORTED_FORMAT_VERSIONS = ("1",)
_ORT_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
    "tensor(int64)": np.int64,
}
_STATE_IN = re.compile(r"^state_in_(\d+)$")
_STATE_OUT = re.compile(r"^state_out_(\d+)$")


@dataclass(frozen=True)
class ModelInfo:
    """The model's self-description (ONNX metadata_props), validated."""

    path: Path
    classes: Tuple[str, ...]
    thresholds: Tuple[float, ...]  # +inf (modelfile.metadata.NO_LABEL) for a class with a null threshold
    stride: int
    pad_code: int
    alphabet: str
    kind: str = "unknown"
    precision: str = "fp32"
    package_version: str = ""
    train_data_sha256: str = ""
    hparams: Dict = field(default_factory=dict)
    features: str = ""  # per-record feature set the graph takes (rnaloc_infer.features.registry), "" for none
    applicability: Optional[ApplicabilityRules] = None  # limits of the training data; None: no flags
    prevalence: Optional[Tuple[float, ...]] = None  # training positive rate per class (rnaloc_infer.profile); None: unknown

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def unlabelled_classes(self) -> Tuple[str, ...]:
        """Classes the metadata gives no threshold (JSON null): never labelled, their threshold +inf."""
        return tuple(unlabelled(self.classes, self.thresholds))

    @property
    def version(self) -> str:
        """Short model version for output headers: exporting package version + data digest."""
        parts = [self.package_version or "unknown"]
        if self.train_data_sha256:
            parts.append(f"data:{self.train_data_sha256[:12]}")
        return "+".join(parts)


def _fail(path: Path, problem: str) -> ModelError:
    return ModelError(f"model {path}: {problem}")


def parse_metadata(path: Path, meta: Dict[str, str]) -> ModelInfo:
    """Validate the rnaloc.* metadata keys and build a ModelInfo (raises ModelError)."""
    required = ("rnaloc.format_version", "rnaloc.classes", "rnaloc.thresholds", "rnaloc.stride")
    missing = [key for key in required if key not in meta]
    if missing:
        raise _fail(path, f"missing metadata {', '.join(missing)} (not exported by rnaloc-export?)")
    version = meta["rnaloc.format_version"].strip()
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise _fail(path, f"metadata format_version {version!r} is not supported (expected {'/'.join(SUPPORTED_FORMAT_VERSIONS)}); upgrade rnaloc-infer")
    try:
        classes = json.loads(meta["rnaloc.classes"])
        stride = int(meta["rnaloc.stride"])
        pad_code = int(meta.get("rnaloc.pad_code", PAD_CODE))
        hparams = json.loads(meta["rnaloc.hparams"]) if meta.get("rnaloc.hparams") else {}
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"unreadable metadata ({exc})") from None
    if not isinstance(classes, list) or not classes:
        raise _fail(path, "metadata rnaloc.classes must be a non-empty JSON list of names")
    for name in classes:  # a tab in a name used to shift every column of the output
        problem = class_name_problem(name)
        if problem:
            raise _fail(path, f"metadata rnaloc.classes: {problem}")
    if len(set(classes)) != len(classes):
        raise _fail(path, "metadata rnaloc.classes has duplicate names")
    try:
        thresholds = parse_thresholds(meta[THRESHOLDS_KEY], len(classes))
    except ValueError as exc:
        raise _fail(path, f"metadata {THRESHOLDS_KEY} {exc}") from None
    if stride < 1:
        raise _fail(path, f"metadata rnaloc.stride must be a positive integer, got {stride}")
    features = meta.get("rnaloc.features", "")
    if features and features not in FEATURE_SETS:
        raise _fail(path, f"needs per-record features {features!r}, which this rnaloc-infer lacks "
                          f"({', '.join(map(repr, FEATURE_SETS))}); upgrade rnaloc-infer")
    applicability = None
    if meta.get(APPLICABILITY_KEY):
        try:
            applicability = ApplicabilityRules.from_json(meta[APPLICABILITY_KEY])
        except ValueError as exc:
            raise _fail(path, f"metadata {APPLICABILITY_KEY} {exc}") from None
    prevalence = None
    if meta.get(PREVALENCE_KEY):
        try:
            prevalence = parse_prevalence(meta[PREVALENCE_KEY], len(classes))
        except ValueError as exc:
            raise _fail(path, f"metadata {PREVALENCE_KEY} {exc}") from None
    alphabet = meta.get("rnaloc.alphabet", ALPHABET)
    if alphabet != ALPHABET or pad_code != PAD_CODE:
        raise _fail(path, f"model alphabet {alphabet!r}/pad {pad_code} differs from this runtime's {ALPHABET!r}/pad {PAD_CODE}")
    return ModelInfo(
        path=path,
        classes=tuple(classes),
        thresholds=tuple(thresholds),
        stride=stride,
        pad_code=pad_code,
        alphabet=alphabet,
        kind=meta.get("rnaloc.model_kind", "unknown"),
        precision=meta.get("rnaloc.precision", "fp32"),
        package_version=meta.get("rnaloc.package_version", ""),
        train_data_sha256=meta.get("rnaloc.train_data_sha256", ""),
        hparams=hparams if isinstance(hparams, dict) else {},
        features=features,
        applicability=applicability,
        prevalence=prevalence,
    )


def choose_providers(device: str) -> List[str]:
    """Execution providers for a device request; CUDA only when onnxruntime-gpu offers it."""
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda":
        if not has_cuda:
            raise ModelError("device 'cuda' requested but onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu and a CUDA driver)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "auto" and has_cuda:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def twin_file(path: Path, precision: str) -> Optional[Path]:
    """model.onnx -> model.<precision>.onnx, when that file exists (fp16 for GPUs, int8 for CPUs)."""
    if not path.name.endswith(".onnx") or path.name.endswith(TWIN_SUFFIXES):
        return None
    candidate = twin_path(path, precision)
    return candidate if candidate.is_file() else None


def _model_file(path: Path, fp16_sibling: bool, int8_sibling: bool = False) -> Path:
    """The file to load: ``path``, or its half-precision (CUDA) or int8 (CPU) twin when asked
    for and present (the int8 twin is checked against ``path`` once loaded: ModelSession)."""
    sibling = twin_file(path, "fp16") if fp16_sibling else (twin_file(path, "int8") if int8_sibling else None)
    if sibling is not None:
        log.info("using the %s twin %s", "half-precision" if fp16_sibling else "int8", sibling)
        return sibling
    if path.is_dir():
        raise _fail(path, "is a directory, not an .onnx file")
    if not path.is_file():
        raise _fail(path, "no such file")
    return path


DEFAULT_INTRA_OP_THREADS = 1  # when none are asked for (measured: docs/PERFORMANCE.md, "Throughput")


def session_options(intra_op_threads: Optional[int] = None) -> ort.SessionOptions:
    """ORT options tuned by benchmarks/throughput.py (docs/PERFORMANCE.md, "Throughput").

    ``intra_op_threads``: ONNX Runtime's own threads inside each model call. Not what
    ``threads`` means elsewhere (``rnaloc-infer --threads``, ``Predictor(threads=)``: the cores a
    command uses, as worker threads calling a one-thread session side by side).

    Why one by default: most of the model's time is a ``Scan`` whose per-step ops are tiny ([batch,
    hidden] vectors), so extra intra-op threads only add a hand-off per step; ORT's default
    (one thread per physical core, idle threads spin-waiting) took 1.8x (batched records)
    to 2.3x (one chunked long record) the wall time and ~2x the CPU time of these settings
    on a shared 2-core box. ``intra_op_threads=None`` therefore means one (for more cores, run
    more worker threads: docs/PERFORMANCE.md, "All cores"), and pool threads, when asked for,
    never spin: spinning burns a core that another job or session could use.
    """
    if intra_op_threads is not None and intra_op_threads < 1:
        raise ModelError(f"intra_op_threads must be >= 1, got {intra_op_threads}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = DEFAULT_INTRA_OP_THREADS if intra_op_threads is None else intra_op_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # ORT warnings are noise for users; errors still raise
    return options


RUNTIME = f"onnxruntime {ort.__version__}"


def optimized_graph_path(path: Path) -> Optional[Path]:
    """Where this model's graph, optimised by this ORT for this CPU, is cached; None when
    disabled (rnaloc_infer.graph_cache)."""
    entry = graph_cache.entry_for(path, RUNTIME)
    return None if entry is None else entry.graph


def _cpu_session(path: Path, options: ort.SessionOptions) -> Tuple[ort.InferenceSession, Optional[graph_cache.PendingEntry]]:
    """A CPU session, from the cached optimised graph when one is there and checks out; else
    from ``path``, with the optimised graph written to a pending cache entry that the caller
    commits once the model passed validation (or discards)."""
    providers = ["CPUExecutionProvider"]
    entry = graph_cache.entry_for(path, RUNTIME)
    data = graph_cache.load(entry) if entry is not None else None
    if data is not None:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(data, sess_options=options, providers=providers), None
        except Exception as exc:  # a graph this ORT cannot load after all: rebuild it
            log.warning("cached graph %s does not load (%s); rebuilding it", entry.graph, _first_line(exc)[:200])
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    pending = graph_cache.begin(entry) if entry is not None else None
    if pending is None:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers), None
    options.optimized_model_filepath = str(pending.path)
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers), pending
    except BaseException as exc:
        pending.discard()
        if not isinstance(exc, Exception):
            raise
        log.debug("loading %s while saving its optimised graph failed (%s); loading without the cache", path, _first_line(exc))
    finally:
        options.optimized_model_filepath = ""
    # a full disk or a graph ORT cannot save: no cache; a corrupt model fails here with its own message
    return ort.InferenceSession(str(path), sess_options=options, providers=providers), None


def _first_line(exc: BaseException) -> str:
    """ORT's messages run to many lines; users get the first (or the type when empty)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class ModelSession:
    """One loaded model: run(tokens, lengths, states) -> (probs, states).

    ``InferenceSession.run`` is thread-safe, and this class keeps no mutable state after
    construction, so one instance may serve several threads.
    """

    def __init__(
        self,
        path: os.PathLike | str,
        device: str = "auto",
        intra_op_threads: Optional[int] = None,
        prefer_fp16: bool = True,
        io_binding: Optional[bool] = None,
        prefer_int8: bool = True,
        *,
        threads: Optional[int] = None,
    ):
        """``intra_op_threads``: ONNX Runtime's threads inside each call (default 1, see
        :func:`session_options`); to use more cores, call one session from several threads
        (:class:`~rnaloc_infer.api.Predictor` ``threads``). ``threads``: its former name here,
        deprecated (``threads`` means cores used everywhere else).
        ``prefer_fp16`` / ``prefer_int8``: load ``NAME.fp16.onnx`` on CUDA / ``NAME.int8.onnx``
        on the CPU instead of ``NAME.onnx`` when present (faster, within the tested precision
        bounds of docs/EXPORT.md); False loads exactly the file given."""
        if threads is not None:
            if intra_op_threads is not None and intra_op_threads != threads:
                raise ModelError("give intra_op_threads only (threads is its deprecated name)")
            warnings.warn("ModelSession(threads=) is deprecated: it is ONNX Runtime's intra_op_threads; "
                          "threads means the cores a command uses (Predictor, rnaloc-infer --threads)",
                          DeprecationWarning, stacklevel=2)
            intra_op_threads = threads
        original = Path(path)
        options = session_options(intra_op_threads)
        attempts = [(choose_providers(device), prefer_fp16)]
        if device == "auto" and attempts[0][0][0] == "CUDAExecutionProvider":
            # onnxruntime-gpu installed but no usable GPU/driver: auto means "CPU then".
            attempts.append((["CPUExecutionProvider"], False))
        pending: Optional[graph_cache.PendingEntry] = None  # the optimised graph, cached once the model passes
        for attempt, (providers, fp16) in enumerate(attempts, start=1):
            on_cuda = providers[0] == "CUDAExecutionProvider"
            path = _model_file(original, fp16_sibling=on_cuda and fp16, int8_sibling=not on_cuda and prefer_int8)
            try:
                if on_cuda:
                    self._session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
                else:
                    self._session, pending = _cpu_session(path, options)
                    if path != original and not self._twin_of(original):
                        log.info("%s was not made from %s (stale twin); using the fp32 file", path.name, original.name)
                        if pending is not None:
                            pending.discard()  # a rejected twin's graph is not cached
                        path = _model_file(original, fp16_sibling=False)
                        self._session, pending = _cpu_session(path, options)
                break
            except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... types
                first = _first_line(exc)
                if attempt < len(attempts):
                    log.warning("CUDA unavailable (%s); using the CPU", first[:200])
                elif on_cuda:
                    raise _fail(path, f"cannot start it on CUDA (try --device cpu): {first[:300]}") from None
                else:
                    raise _fail(path, f"cannot load ONNX model (corrupt or not an ONNX file?): {first[:300]}") from None
        self.providers = self._session.get_providers()
        self.device = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        # I/O binding (default on CUDA): carried states stay on the device between the chunks
        # of a long record instead of a host round trip per call; only probs come back.
        self.io_binding = self.device == "cuda" if io_binding is None else io_binding
        try:
            self.info = parse_metadata(path, read_metadata(self._session))
            self._check_io(path)
        except BaseException:
            if pending is not None:
                pending.discard()  # a rejected model leaves no cache entry
            raise
        if pending is not None:
            pending.commit()
        log.debug("loaded %s (%s, stride %d, %d states) on %s", path, self.info.kind, self.info.stride, len(self.state_shapes), self.providers)

    # -- validation -----------------------------------------------------------------------
    def _twin_of(self, original: Path) -> bool:
        """Whether the loaded int8 twin records ``original``'s sha256 (export/quantize.py)."""
        recorded = read_metadata(self._session).get(FP32_SHA256_KEY)
        return recorded is not None and original.is_file() and recorded == file_sha256(original)

    def _check_io(self, path: Path) -> None:
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = {o.name: o for o in self._session.get_outputs()}
        for name, dtype, rank in (("tokens", "tensor(uint8)", 2), ("lengths", "tensor(int64)", 1)):
            node = inputs.get(name)
            if node is None:
                raise _fail(path, f"has no input {name!r} (inputs: {', '.join(inputs) or 'none'})")
            if node.type != dtype or len(node.shape) != rank:
                raise _fail(path, f"input {name!r} must be {dtype} of rank {rank}, found {node.type} {node.shape}")
        state_in = sorted(int(m.group(1)) for m in map(_STATE_IN.match, inputs) if m)
        state_out = sorted(int(m.group(1)) for m in map(_STATE_OUT.match, outputs) if m)
        if state_in != list(range(len(state_in))) or state_in != state_out:
            raise _fail(path, f"state inputs {state_in} and outputs {state_out} must be numbered 0..K-1 and match")
        extra = set(inputs) - {"tokens", "lengths"} - {f"state_in_{i}" for i in state_in}
        if self.info.features:
            node = inputs.get("features")
            width = FEATURE_SETS[self.info.features].width
            if node is None or node.type != "tensor(float)" or node.shape[1:] != [width]:
                found = "none" if node is None else f"{node.type} {node.shape}"
                raise _fail(path, f"metadata names features {self.info.features!r}, so input 'features' must be float "
                                  f"[batch, {width}]; found {found}")
            extra.discard("features")
        if extra:
            raise _fail(path, f"unexpected inputs {sorted(extra)}")
        probs = outputs.get("probs")
        if probs is None:
            raise _fail(path, "has no output 'probs'")
        if probs.type not in ("tensor(float)", "tensor(float16)") or len(probs.shape) != 2:
            raise _fail(path, f"output 'probs' must be float [batch, n_classes], found {probs.type} {probs.shape}")
        n_out = probs.shape[1]
        if isinstance(n_out, int) and n_out != len(self.info.classes):
            raise _fail(path, f"output 'probs' has {n_out} classes but metadata lists {len(self.info.classes)}")
        shapes: List[Tuple[int, ...]] = []
        dtypes: List[type] = []
        for i in state_in:
            node = inputs[f"state_in_{i}"]
            dims = node.shape[1:]
            if node.type not in ("tensor(float)", "tensor(float16)") or not node.shape:
                raise _fail(path, f"input 'state_in_{i}' must be float [batch, ...], found {node.type} {node.shape}")
            if not all(isinstance(d, int) and d >= 0 for d in dims):
                raise _fail(path, f"input 'state_in_{i}' must have fixed non-batch axes, found {node.shape}")
            shapes.append(tuple(dims))
            dtypes.append(_ORT_TO_NUMPY[node.type])
        self.state_shapes: Tuple[Tuple[int, ...], ...] = tuple(shapes)
        self._state_dtypes = tuple(dtypes)
        self._output_names = ["probs"] + [f"state_out_{i}" for i in state_in]
        self._state_names = [f"state_in_{i}" for i in state_in]

    # -- running --------------------------------------------------------------------------
    def zero_states(self, batch: int) -> List[np.ndarray]:
        """All-zero carried states (= start of sequence) for a batch of the given size."""
        return [np.zeros((batch,) + shape, dtype=dt) for shape, dt in zip(self.state_shapes, self._state_dtypes)]

    def record_features(self, records: Sequence[np.ndarray]) -> Optional[np.ndarray]:
        """The per-record features the model takes, of whole records' codes; None if it takes none."""
        return record_feature_matrix(records, self.info.features) if self.info.features else None

    def run(self, tokens: np.ndarray, lengths: np.ndarray, states: Optional[Sequence[np.ndarray]] = None,
            features: Optional[np.ndarray] = None) -> Tuple[np.ndarray, List[np.ndarray]]:
        """One model call; returns float32 probabilities [batch, classes] and the new states.

        ``features``: the records' per-record features for a model that takes them; when left
        out they are computed from ``tokens``, which then must hold whole records.
        """
        if states is None:
            states = self.zero_states(tokens.shape[0])
        if self.info.features and features is None:
            features = self.record_features([row[:n] for row, n in zip(tokens, lengths.tolist())])
        try:
            if self.io_binding:
                return self._run_bound(tokens, lengths, states, features)
            out = self._session.run(self._output_names, self.feeds(tokens, lengths, states, features))
        except Exception as exc:  # ORT's Fail/InvalidArgument/RuntimeException: the model, not the input
            first = _first_line(exc)
            raise _fail(self.info.path, f"inference failed (batch {tokens.shape[0]} x {tokens.shape[1]} nt): {first[:300]}") from None
        return np.asarray(out[0], dtype=np.float32), out[1:]

    def feeds(self, tokens: np.ndarray, lengths: np.ndarray, states: Optional[Sequence[np.ndarray]] = None,
              features: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """The graph's inputs for one call, by name (zero states, i.e. a record's start, when
        none are given); also for callers that run the graph themselves (export/quantize.py)."""
        feed = {"tokens": tokens, "lengths": lengths}
        feed.update(zip(self._state_names, self.zero_states(tokens.shape[0]) if states is None else states))
        if features is not None:
            feed["features"] = features
        return feed

    def _run_bound(self, tokens: np.ndarray, lengths: np.ndarray, states: Sequence,
                   features: Optional[np.ndarray]) -> Tuple[np.ndarray, List]:
        """run() through an IOBinding: states in and out as device-resident OrtValues."""
        binding = self._session.io_binding()
        binding.bind_cpu_input("tokens", tokens)
        binding.bind_cpu_input("lengths", lengths)
        if features is not None:
            binding.bind_cpu_input("features", features)
        for name, state in zip(self._state_names, states):
            if isinstance(state, ort.OrtValue):
                binding.bind_ortvalue_input(name, state)
            else:
                binding.bind_cpu_input(name, state)
        binding.bind_output("probs", "cpu")
        for name in self._output_names[1:]:
            binding.bind_output(name, self.device)
        self._session.run_with_iobinding(binding)
        outputs = binding.get_outputs()
        return np.asarray(outputs[0].numpy(), dtype=np.float32), list(outputs[1:])

    def chunk_length(self, chunk_nt: int) -> int:
        """Largest multiple of the model's stride not above chunk_nt (at least one stride)."""
        return max(self.info.stride, (chunk_nt // self.info.stride) * self.info.stride)

    def predict_long(self, codes: np.ndarray, chunk_nt: int) -> np.ndarray:
        """Exact probabilities of one long record via consecutive chunks carrying state.

        Every chunk but the last is a multiple of the stride (the contract's condition for
        chunked == one-shot); memory is bounded by the chunk, not the record.
        """
        step = self.chunk_length(chunk_nt)
        states: Optional[List[np.ndarray]] = None
        features = self.record_features([codes])
        probs = None
        for start in range(0, len(codes), step):
            piece = np.ascontiguousarray(codes[start : start + step], dtype=np.uint8)[None, :]
            probs, states = self.run(piece, np.array([piece.shape[1]], dtype=np.int64), states, features)
        if probs is None:
            raise ValueError("empty sequence")
        return probs[0]
