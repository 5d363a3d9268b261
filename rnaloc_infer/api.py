"""Python API: load a model once, predict many times, from several threads if you like.

    >>> from rnaloc_infer import Predictor
    >>> predictor = Predictor()                     # bundled "default" model, CPU or CUDA
    >>> probs = predictor.predict(["ACGU...", "GGCA..."])    # (n, n_classes) float32
    >>> for p in predictor.predict_fasta("transcripts.fa.gz"):
    ...     print(p.id, p.labels)

Thread safety: a Predictor holds only read-only state after construction (the ONNX Runtime
session, whose ``run`` is thread-safe, and the model's metadata); each call keeps its own
batching state, so concurrent ``predict``/``predict_fasta`` calls need no lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .alphabet import encode
from .applicability import count_ambiguous
from .batching import BatchConfig, Scored, predict_stream
from .bundled import DEFAULT_MODEL, resolve_model
from .explain.ism import DEFAULT_MAX_LENGTH
from .fasta import Record, RecordError, read_fasta
from .parallel import worker_count
from .profile import relative_profile, require_prevalence
from .session import ModelInfo, ModelSession
from .writers import predicted_labels

PathArg = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Prediction:
    """One record's result: probabilities per class and the labels above threshold."""

    id: str
    length: int
    probabilities: Dict[str, float]
    labels: Tuple[str, ...]
    header: str = ""
    # Why the record is outside the model's training data (rnaloc_infer.applicability):
    # () when in range, None when the model carries no rules.
    applicability: Optional[Tuple[str, ...]] = None


PRECISIONS = ("auto", "fp32")


class Predictor:
    """A loaded model plus batching settings; reuse one instance for many calls."""

    def __init__(
        self,
        model: PathArg = DEFAULT_MODEL,
        device: str = "auto",
        threads: Optional[int] = None,
        *,
        batch_nt: int = BatchConfig.batch_nt,
        window_records: int = BatchConfig.window_records,
        window_nt: int = BatchConfig.window_nt,
        chunk_nt: int = BatchConfig.chunk_nt,
        precision: str = "auto",
    ):
        """``threads``: the CPU cores to use, as ``rnaloc-infer --threads``: that many worker
        threads call the one session side by side (each call runs on one ONNX Runtime thread);
        None: every core this process may use (rnaloc_infer.parallel.cores).
        ``precision``: "auto" runs a model's int8 twin on the CPU and its fp16 twin on CUDA
        when it ships one (docs/EXPORT.md, "int8 twin"); "fp32" runs exactly the
        file given."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model_path = resolve_model(model)
        self._device = device
        # One-thread session, ``workers`` threads calling it (all cores unless capped): measured
        # fastest, docs/PERFORMANCE.md "All cores".
        reduced = precision == "auto"
        self.session = ModelSession(self.model_path, device=device, prefer_fp16=reduced, prefer_int8=reduced)
        self._fp32_session: Optional[ModelSession] = None
        self.workers = worker_count(threads, self.session.device)
        self.config = BatchConfig(batch_nt=batch_nt, window_records=window_records, window_nt=window_nt, chunk_nt=chunk_nt)

    @property
    def info(self) -> ModelInfo:
        return self.session.info

    @property
    def classes(self) -> Tuple[str, ...]:
        return self.session.info.classes

    @property
    def thresholds(self) -> Tuple[float, ...]:
        return self.session.info.thresholds

    def relative_profile(self, probs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(level, relative) for probabilities from this model: "how many compartments" and
        "which" (rnaloc_infer.profile; what ``rnaloc-infer --profile`` writes). Compare
        compartments with ``relative``, not with the probabilities, which carry each class's
        base rate. Raises ModelError for a model without training prevalence in its metadata."""
        return relative_profile(probs, require_prevalence(self.model_path, self.info.prevalence))

    def predict(self, sequences: Iterable[str]) -> np.ndarray:
        """Probabilities (n, n_classes) for nucleotide strings, in input order.

        Raises ValueError naming the sequence's 0-based index for an empty sequence or a
        non-nucleotide letter (U/lowercase/IUPAC codes are accepted).
        """

        if isinstance(sequences, (str, bytes)):
            raise TypeError("predict() takes a list of sequences; wrap a single sequence: predict([seq])")

        def records() -> Iterator[Record]:
            for index, sequence in enumerate(sequences):
                try:
                    codes = encode(sequence)
                except ValueError as exc:
                    raise ValueError(f"sequence {index}: {exc}") from None
                if codes.size == 0:
                    raise ValueError(f"sequence {index}: empty sequence")
                yield Record(str(index), str(index), codes, "<sequences>", index + 1, count_ambiguous(sequence))

        return self.predict_records(records())

    def predict_records(self, records: Iterable[Record]) -> np.ndarray:
        """Probabilities (n, n_classes) for records already read (:func:`~rnaloc_infer.fasta.read_fasta`), in input order.

        Why: a caller that must see the records before scoring them (``rnaloc-train
        evaluate`` matches their ids to labels first) scores them here as read, with the
        same batching as ``rnaloc-infer``, instead of turning codes back into letters.
        """
        rows: List[np.ndarray] = [s.probs for s in predict_stream(records, self.session, self.config, workers=self.workers)]  # type: ignore[union-attr]
        if not rows:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def predict_fasta(
        self,
        paths: Union[PathArg, Sequence[PathArg]],
        *,
        on_error: str = "fail",
        errors: Optional[List[RecordError]] = None,
    ) -> Iterator[Prediction]:
        """Predictions for FASTA file(s) ("-" = stdin), lazily and in input order.

        ``on_error="fail"`` raises :class:`~rnaloc_infer.errors.InputError` at the first bad
        record; ``"skip"`` leaves bad records out and appends them to ``errors`` when given.
        """
        for item in predict_stream(read_fasta(paths), self.session, self.config, on_error=on_error, workers=self.workers):
            if isinstance(item, RecordError):
                if errors is not None:
                    errors.append(item)
                continue
            yield self.to_prediction(item)

    def explain(self, sequence: str, *, max_length: int = DEFAULT_MAX_LENGTH, tolerance: float = 0.0, workers: int = 1) -> np.ndarray:
        """Exact in-silico mutagenesis: (length, 4, n_classes) float32 changes in probability.

        Entry [i, b, c] = P(class c) with base b (A, C, G, T) at position i minus P(class c)
        of ``sequence`` (the numbers ``predict`` gives); 0 for the reference base; an N gets
        all four. Raises ValueError for a bad or empty sequence, or one longer than
        ``max_length`` (the work grows with length squared). docs/EXPLAIN.md.
        """
        from .explain import explain_codes, length_problem

        try:
            codes = encode(sequence)
        except ValueError as exc:
            raise ValueError(f"sequence: {exc}") from None
        if codes.size == 0:
            raise ValueError("sequence: empty sequence")
        problem = length_problem(codes.size, max_length)
        if problem:
            raise ValueError(f"sequence: {problem}")
        return explain_codes(self._exact_session(), codes, tolerance=tolerance, workers=workers).delta

    def _exact_session(self) -> ModelSession:
        """The fp32 file's session: explanations are of the model itself, not of a reduced-precision twin."""
        if self.session.info.precision == "fp32":
            return self.session
        if self._fp32_session is None:
            self._fp32_session = ModelSession(self.model_path, device=self._device, prefer_fp16=False, prefer_int8=False)
        return self._fp32_session

    def to_prediction(self, scored: Scored) -> Prediction:
        probs = {name: float(p) for name, p in zip(self.classes, scored.probs)}
        labels = tuple(predicted_labels(scored.probs, self.classes, self.thresholds))
        return Prediction(scored.id, scored.length, probs, labels, scored.header, scored.applicability)
