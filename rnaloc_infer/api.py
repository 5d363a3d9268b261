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

from .alphabet import count_ambiguous, encode
from .applicability import OUT_OF_RANGE_POLICIES
from .batching import BatchConfig, Scored, predict_stream
from .bundled import DEFAULT_MODEL, resolve_model
from .fasta import Record, RecordError, read_fasta
from .parallel import worker_count
from .profile import relative_profile, require_prevalence
from .session import ModelInfo, ModelSession
from .output.tables import predicted_labels

PathArg = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Prediction:
    """One record's result: probabilities per class and the labels above threshold.

    ``labels`` is None for a record outside the model's training data (``applicability``
    says why): its probabilities are kept, but no call is made, as ``rnaloc-infer`` writes
    ``NA`` (``out_of_range="label"`` labels it anyway)."""

    id: str
    length: int
    probabilities: Dict[str, float]
    labels: Optional[Tuple[str, ...]]
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

    def predict(self, sequences: Iterable[str], *, flags: bool = False
                ) -> Union[np.ndarray, Tuple[np.ndarray, List[Optional[Tuple[str, ...]]]]]:
        """Probabilities (n, n_classes) for nucleotide strings, in input order; with
        ``flags=True`` also each sequence's applicability (() in range, else the reasons it is
        outside the model's training data, e.g. ``("too_short", "no_orf")``; None for a model
        without rules). Check them: a 20-nt toy gets confident-looking numbers too.

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

        if not flags:
            return self.predict_records(records())
        scored = list(predict_stream(records(), self.session, self.config, workers=self.workers))
        return self._stack([s.probs for s in scored]), [s.applicability for s in scored]  # type: ignore[union-attr]

    def _stack(self, rows: List[np.ndarray]) -> np.ndarray:
        if not rows:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def predict_records(self, records: Iterable[Record]) -> np.ndarray:
        """Probabilities (n, n_classes) for records already read (:func:`~rnaloc_infer.fasta.read_fasta`), in input order.

        Why: a caller that must see the records before scoring them (``rnaloc-train
        evaluate`` matches their ids to labels first) scores them here as read, with the
        same batching as ``rnaloc-infer``, instead of turning codes back into letters.
        """
        return self._stack([s.probs for s in predict_stream(records, self.session, self.config, workers=self.workers)])  # type: ignore[union-attr]

    def score(self, items: Iterable[Union[Record, RecordError]]) -> Iterator[Union[Scored, RecordError]]:
        """Records already read, bad ones (``RecordError``) passed through in their place, scored
        in input order as ``rnaloc-infer`` scores them: what a command hands to the run path
        (:func:`rnaloc_infer.output.run.open_run`; ``rnaloc-train evaluate`` does)."""
        return predict_stream(items, self.session, self.config, on_error="skip", workers=self.workers)

    def predict_fasta(
        self,
        paths: Union[PathArg, Sequence[PathArg]],
        *,
        on_error: str = "fail",
        errors: Optional[List[RecordError]] = None,
        out_of_range: str = "keep",
    ) -> Iterator[Prediction]:
        """Predictions for FASTA file(s) ("-" = stdin), lazily and in input order.

        ``on_error="fail"`` raises :class:`~rnaloc_infer.errors.InputError` at the first bad
        record; ``"skip"`` leaves bad records out and appends them to ``errors`` when given.
        ``out_of_range`` as ``rnaloc-infer --out-of-range``: "keep" (probabilities, labels
        None), "label", "drop" or "error" (a bad record, see ``on_error``).
        """
        from .output.run import out_of_range_error, row_policy

        if out_of_range not in OUT_OF_RANGE_POLICIES:
            raise ValueError(f"out_of_range must be one of {OUT_OF_RANGE_POLICIES}, got {out_of_range!r}")
        for item in predict_stream(read_fasta(paths), self.session, self.config, on_error=on_error, workers=self.workers):
            labelled = True
            if isinstance(item, Scored):
                action, labelled = row_policy(item.applicability, out_of_range)
                if action == "drop":
                    continue
                if action == "error":
                    item = out_of_range_error(item)
                    if on_error == "fail":
                        raise item.to_exception()
            if isinstance(item, RecordError):
                if errors is not None:
                    errors.append(item)
                continue
            yield self.to_prediction(item, labelled=labelled)

    def exact_session(self) -> ModelSession:
        """The fp32 file's session (loaded on first use, then kept): what explains a prediction
        (``rnaloc_infer.explain.explain_sequence``) must be the model itself, not a
        reduced-precision twin."""
        if self.session.info.precision == "fp32":
            return self.session
        if self._fp32_session is None:
            self._fp32_session = ModelSession(self.model_path, device=self._device, prefer_fp16=False, prefer_int8=False)
        return self._fp32_session

    def to_prediction(self, scored: Scored, *, labelled: Optional[bool] = None) -> Prediction:
        """``labelled``: whether a call is made (default: only for a record in range)."""
        probs = {name: float(p) for name, p in zip(self.classes, scored.probs)}
        called = not scored.applicability if labelled is None else labelled
        labels = tuple(predicted_labels(scored.probs, self.classes, self.thresholds)) if called else None
        return Prediction(scored.id, scored.length, probs, labels, scored.header, scored.applicability)
