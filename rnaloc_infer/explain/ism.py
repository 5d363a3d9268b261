"""Exact in-silico mutagenesis (ISM): every single-nucleotide substitution, scored.

Brute force re-scores ``3 x length`` whole variant records. This module gets the same
numbers (up to float32 rounding, ~1e-6) with far less work, from the model's contract
alone, so it serves every exported model (QRNN, TCN, LSTM, ensembles, k-mer regression,
coding features) without torch:

1. **Prefix reuse.** One reference pass over the record in blocks of ``block_nt`` (a
   multiple of the model's stride) keeps the carried states at every block boundary. A
   variant at position i starts from the boundary at or before i: nothing before it is
   recomputed.
2. **Batching.** Variants advance in lock-step, many rows per ONNX call, in windows that
   double in length (one block first, then 2, 4, ... blocks, at most ``max_window_nt``).
3. **Early stop, exact.** After each window a variant's recurrent states are compared with
   the reference's at the same boundary (roles from :mod:`.roles`). When they are equal
   (``tolerance`` 0, the default: bit for bit) the rest of the record would run exactly as
   in the reference, so the variant is completed without running it: recurrent states
   from the reference's end, sums and counts as the variant's plus the reference's tail
   increment, maxima as max(variant's, the reference's tail maximum), then one call with no
   nucleotides turns those states into probabilities. Convolution and k-mer contexts
   converge within their width; a recurrent cell converges when its memory of the variant
   has decayed below float32 resolution. A ``tolerance`` above 0 stops earlier, at a cost
   in accuracy: see docs/EXPLAIN.md for measured errors.
4. **Features.** A model reading per-record features gets each variant's own, of its set
   (``coding-v1``, ``coding-utr-v1``), computed cheaply (:mod:`rnaloc_infer.features.variants`); they enter only
   the head in this project's models (checked by probing; if they reached the states, such
   variants would be run from the start).

What bounds the speed-up is the model's memory: a variant must be run until its effect on
the recurrent states has vanished. See docs/EXPLAIN.md and docs/PERFORMANCE.md.

QRNN models that ship numpy weights beside them (the bundled ones) are handed to
:mod:`.numpy_ism` instead, which follows a mutation through the model's structure and is
an order of magnitude faster; this module stays the path for every other model.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence

import numpy as np

from ..alphabet import PAD_CODE, encode
from ..features.registry import variant_features
from ..features.variants import substitutions
from ..session import ModelSession
from .numpy_ism import explain_numpy
from .numpy_model import NumpyModel, companion_path, load_companion
from .roles import ADD, MAX, REC, StateRoles, _extremes, head_probs, probe_roles

if TYPE_CHECKING:
    from ..api import Predictor

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 12_000  # nt; ISM work grows with length squared (docs/EXPLAIN.md)
DEFAULT_BLOCK_NT = 64
DEFAULT_MAX_WINDOW_NT = 1_024
DEFAULT_BATCH_NT = 131_072
ENGINES = ("auto", "numpy", "onnx")


@lru_cache(maxsize=8)
def _companion(path: str, mtime_ns: int, size: int) -> Optional[NumpyModel]:
    return load_companion(Path(path))


def numpy_model_for(session: ModelSession) -> Optional[NumpyModel]:
    """The numpy engine's weights for the session's model file (None: use the ONNX path).

    Only CPU fp32 sessions: on a GPU the ONNX path's batched calls run on the device."""
    path = Path(session.info.path)
    if session.device != "cpu" or session.info.precision != "fp32" or not path.is_file():
        return None
    stat = path.stat()
    return _companion(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def length_problem(length: int, max_length: int, option: str = "max_length") -> Optional[str]:
    """The one-line complaint for a record too long to explain, or None."""
    if length <= max_length:
        return None
    return (f"{length:,} nt is longer than {option} {max_length:,} (ISM work grows with the square of the length: "
            f"docs/EXPLAIN.md); raise {option} to run it anyway")


@dataclass(frozen=True)
class Explanation:
    """ISM of one record: ``delta[i, b, c]`` = P(class c | base b at i) - P(class c | record)."""

    delta: np.ndarray  # (length, 4, n_classes) float32, bases A, C, G, T; reference entries 0
    reference: np.ndarray  # (n_classes,) probabilities of the record itself
    codes: np.ndarray  # (length,) uint8 codes of the record
    roles: Optional[StateRoles]  # the ONNX path's probed state roles (None from the numpy engine)
    variant_nt: int  # nucleotides run for the variants (brute force: variants x length; numpy engine: pooled steps x stride, mean over networks)
    engine: str = "onnx"  # "numpy" (QRNN structure, numpy_ism.py) or "onnx" (any model, this module)


@dataclass
class _Reference:
    """The record run in blocks: states at every block boundary (index j = position j*B)."""

    states: List[np.ndarray]  # per state: (n_blocks + 1, ...); the last row = end of record
    probs: np.ndarray
    features: Optional[np.ndarray]


@dataclass(frozen=True)
class _Run:
    """One record's ISM on the ONNX path: the settings, the reference pass, the probed state
    roles and the variants, which every step below reads (one argument instead of a dozen)."""

    session: ModelSession
    codes: np.ndarray  # (length,) uint8
    block: int  # nt between kept reference states (a multiple of the stride)
    max_window: int  # nt a variant runs per round, at most
    batch_nt: int  # nt per model call
    tolerance: float  # early stop: largest recurrent-state difference from the reference
    ref: _Reference
    roles: StateRoles
    positions: np.ndarray  # (variants,) position of each substitution
    bases: np.ndarray  # (variants,) its new base
    features: Optional[np.ndarray]  # (variants, n_features) each variant's own, or None
    rerun: np.ndarray  # (variants,) bool: must run from position 0 (its features reach the states)

    @property
    def starts(self) -> np.ndarray:
        """Where each variant starts: the block boundary at or before it (0 for a rerun)."""
        return np.where(self.rerun, 0, (self.positions // self.block) * self.block)


@dataclass
class _Front:
    """The variants' progress: their carried states, how far each has run, finished probabilities."""

    states: List[np.ndarray]  # per state: (variants, ...)
    current: np.ndarray  # (variants,) int64 position reached
    out: np.ndarray  # (variants, n_classes) float32, nan until finished


def _reference_pass(session: ModelSession, codes: np.ndarray, block: int, features: Optional[np.ndarray]) -> _Reference:
    states = session.zero_states(1)
    kept = [[s] for s in states]
    probs = None
    for start in range(0, len(codes), block):
        piece = np.ascontiguousarray(codes[start : start + block])[None, :]
        probs, states = session.run(piece, np.array([piece.shape[1]], dtype=np.int64), states, features)
        states = [_host(s) for s in states]
        for k, s in enumerate(states):
            kept[k].append(s)
    return _Reference([np.concatenate(k) for k in kept], probs[0], features)


def _tail_maxima(run: _Run, max_roles: List[int]) -> List[np.ndarray]:
    """Per max-state: (n_blocks + 1, ...) maximum over blocks j.. to the end (row n_blocks: floor)."""
    session, codes, block, ref, batch_nt = run.session, run.codes, run.block, run.ref, run.batch_nt
    n_blocks = ref.states[0].shape[0] - 1
    if not max_roles:
        return []
    maxima = [np.empty((n_blocks,) + ref.states[k].shape[1:], dtype=ref.states[k].dtype) for k in max_roles]
    rows_per_call = max(1, batch_nt // block)
    for first in range(0, n_blocks, rows_per_call):
        rows = np.arange(first, min(n_blocks, first + rows_per_call))
        tokens, lengths = _windows(codes, rows * block, block)
        states = [s[rows].copy() for s in ref.states]
        for k in max_roles:
            states[k][:] = _extremes(states[k].dtype)[0]
        feats = None if ref.features is None else np.repeat(ref.features, len(rows), axis=0)
        _, out = session.run(tokens, lengths, states, feats)
        for slot, k in enumerate(max_roles):
            maxima[slot][rows] = _host(out[k])
    tails = []
    for slot, k in enumerate(max_roles):
        low = _extremes(ref.states[k].dtype)[0]
        suffix = np.maximum.accumulate(maxima[slot][::-1], axis=0)[::-1]
        tails.append(np.concatenate([suffix, np.full((1,) + suffix.shape[1:], low, suffix.dtype)]))
    return tails


def _host(state) -> np.ndarray:
    """A state output as a numpy array (a device-resident OrtValue under CUDA I/O binding)."""
    return state if isinstance(state, np.ndarray) else state.numpy()


def _windows(codes: np.ndarray, starts: np.ndarray, width: int) -> tuple:
    """Tokens (rows, width) of the record from each start, padded past its end, and lengths."""
    index = starts[:, None] + np.arange(width)[None, :]
    tokens = np.where(index < len(codes), codes[np.minimum(index, len(codes) - 1)], PAD_CODE).astype(np.uint8)
    lengths = np.clip(len(codes) - starts, 0, width).astype(np.int64)
    return tokens, lengths


def _probe(session: ModelSession, codes: np.ndarray, block: int, ref: _Reference) -> StateRoles:
    n_blocks = ref.states[0].shape[0] - 1
    sites = sorted({j for j in (1, n_blocks // 2) if 1 <= j < n_blocks - 1})
    chunks = [(codes[j * block : (j + 1) * block], [s[j : j + 1].copy() for s in ref.states]) for j in sites]
    final = [s[-1:].copy() for s in ref.states]
    return probe_roles(session, chunks, final, ref.probs[None, :], ref.features)


def explain_codes(
    session: ModelSession,
    codes: np.ndarray,
    *,
    tolerance: float = 0.0,
    block_nt: int = DEFAULT_BLOCK_NT,
    max_window_nt: int = DEFAULT_MAX_WINDOW_NT,
    batch_nt: int = DEFAULT_BATCH_NT,
    workers: int = 1,
    progress: Optional[Callable[[int], None]] = None,
    engine: str = "auto",
) -> Explanation:
    """ISM of one record (uint8 codes): see the module docstring for how, and the guarantees.

    ``engine``: "auto" uses the numpy engine (:mod:`.numpy_ism`, exact, much faster) when
    the model has a valid companion file (:mod:`.numpy_model`), else this module's ONNX
    Runtime path ("onnx"), which serves every model; "numpy" insists on the former.
    ``tolerance`` applies to the ONNX path only (the numpy engine is exact and faster).
    ``workers`` threads run at once (ONNX Runtime and numpy release the GIL): 2 uses both
    cores of a 2-core machine with the default one-thread session. ``progress(n)`` is called
    as variants finish.
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.size == 0:
        raise ValueError("empty sequence")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    features = session.record_features([codes])
    numpy_model = None if engine == "onnx" else numpy_model_for(session)
    if engine == "numpy" and numpy_model is None:
        raise ValueError(f"{session.info.name}: no valid numpy companion ({companion_path(session.info.path).name}); use engine 'onnx'")
    if numpy_model is not None:
        return _explain_numpy(numpy_model, session, codes, features, workers, progress)
    block = session.chunk_length(block_nt)
    ref = _reference_pass(session, codes, block, features)
    roles = _probe(session, codes, block, ref)
    log.debug("state roles %s, head call %s, features in states %s", roles.roles, roles.head_call, roles.features_in_states)

    positions, bases = substitutions(codes)
    var_features = None if features is None else variant_features(codes, positions, bases, session.info.features)
    rerun = np.zeros(len(positions), dtype=bool)  # must start from position 0 (features reach the states)
    if var_features is not None and roles.features_in_states:
        rerun = np.any(var_features != features, axis=1)
    run = _Run(session, codes, block, max(block, session.chunk_length(max_window_nt)), batch_nt, tolerance, ref, roles,
               positions, bases, var_features, rerun)
    probs, variant_nt = _advance(run, workers, progress)
    delta = np.zeros((len(codes), 4, len(session.info.classes)), dtype=np.float32)
    delta[positions, bases] = probs - ref.probs[None, :]
    return Explanation(delta, ref.probs, codes, roles, variant_nt)


def explain_sequence(predictor: "Predictor", sequence: str, *, max_length: int = DEFAULT_MAX_LENGTH,
                     tolerance: float = 0.0, workers: int = 1) -> np.ndarray:
    """Exact in-silico mutagenesis of one sequence with a loaded Predictor: (length, 4,
    n_classes) float32 changes in probability.

    Entry [i, b, c] = P(class c) with base b (A, C, G, T) at position i minus P(class c) of
    ``sequence`` (the numbers ``predictor.predict`` gives); 0 for the reference base; an N
    gets all four. The model explained is the fp32 file, never a reduced-precision twin
    (``Predictor.exact_session``). Raises ValueError for a bad or empty sequence, or one
    longer than ``max_length`` (the work grows with length squared). docs/EXPLAIN.md.

    Why a function here and not a Predictor method: the core never imports explain, so
    ``from rnaloc_infer import Predictor`` does not load this engine (docs/DESIGN.md).
    """
    try:
        codes = encode(sequence)
    except ValueError as exc:
        raise ValueError(f"sequence: {exc}") from None
    if codes.size == 0:
        raise ValueError("sequence: empty sequence")
    problem = length_problem(codes.size, max_length)
    if problem:
        raise ValueError(f"sequence: {problem}")
    return explain_codes(predictor.exact_session(), codes, tolerance=tolerance, workers=workers).delta


def _explain_numpy(model: NumpyModel, session: ModelSession, codes: np.ndarray, features: Optional[np.ndarray], workers: int,
                   progress: Optional[Callable[[int], None]]) -> Explanation:
    positions, bases = substitutions(codes)
    var_features = None if features is None else variant_features(codes, positions, bases, session.info.features)
    reference, probs, steps = explain_numpy(model, codes, positions, bases, features, var_features, workers)
    if progress is not None:
        progress(len(positions))
    delta = np.zeros((len(codes), 4, len(session.info.classes)), dtype=np.float32)
    delta[positions, bases] = probs - reference[None, :]
    return Explanation(delta, reference, codes, None, steps * model.stride, engine="numpy")


def _advance(run: _Run, workers: int, progress: Optional[Callable[[int], None]]) -> tuple:
    """Run every variant from its start until the end of the record or convergence.

    Returns (probabilities per variant, nucleotides run)."""
    session, codes, block, ref, positions, bases = run.session, run.codes, run.block, run.ref, run.positions, run.bases
    length = len(codes)
    n_var = len(positions)
    current = run.starts.astype(np.int64).copy()
    front = _Front([s[current // block].copy() for s in ref.states], current,
                   np.full((n_var, len(session.info.classes)), np.nan, dtype=np.float32))
    states, out = front.states, front.out
    early = run.roles.early_stop
    tails = _tail_maxima(run, run.roles.indices(MAX)) if early else []
    active = np.arange(n_var)
    width = block
    work = 0
    pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def run_rows(rows: np.ndarray, width: int) -> None:
        tokens, lengths = _windows(codes, current[rows], width)
        offset = positions[rows] - current[rows]
        inside = (offset >= 0) & (offset < width)
        tokens[np.flatnonzero(inside), offset[inside]] = bases[rows[inside]]
        feats = None if run.features is None else run.features[rows]
        p, new = session.run(tokens, lengths, [s[rows] for s in states], feats)
        for k, s in enumerate(new):
            states[k][rows] = _host(s)
        ending = current[rows] + width >= length
        out[rows[ending]] = p[ending]

    try:
        while active.size:
            # A row near the end runs only what is left: padding would cost as much as nucleotides.
            steps = np.minimum(width, length - current[active])
            parts = []
            for step in np.unique(steps):
                group = active[steps == step]
                rows_per_call = max(1, run.batch_nt // int(step))
                parts.extend((group[i : i + rows_per_call], int(step)) for i in range(0, group.size, rows_per_call))
            if pool is None:
                for part in parts:
                    run_rows(*part)
            else:
                list(pool.map(lambda part: run_rows(*part), parts))
            current[active] += steps
            work += int(steps.sum())
            finished = current[active] >= length
            if progress is not None and finished.any():
                progress(int(finished.sum()))
            active = active[~finished]
            if early and active.size:
                converged = _converged(run, front, active)
                done = active[converged]
                if done.size:
                    _complete(run, front, done, tails)
                    if progress is not None:
                        progress(int(done.size))
                    active = active[~converged]
            width = min(2 * width, run.max_window)
    finally:
        if pool is not None:
            pool.shutdown()
    return out, work


def _converged(run: _Run, front: _Front, active: np.ndarray) -> np.ndarray:
    """Rows of ``active`` past their variant whose recurrent states match the reference's."""
    current = front.current
    at = current[active] // run.block
    ok = (current[active] > run.positions[active]) & ~run.rerun[active]
    for k in run.roles.indices(REC):
        if not ok.any():
            break
        diff = np.abs(front.states[k][active].astype(np.float64) - run.ref.states[k][at]).reshape(len(active), -1)
        ok &= diff.max(axis=1, initial=0.0) <= run.tolerance
    return ok


def _complete(run: _Run, front: _Front, rows: np.ndarray, tails: List[np.ndarray]) -> None:
    """Probabilities of converged variants: the reference's tail folded into their states."""
    ref, states = run.ref, front.states
    at = front.current[rows] // run.block
    combined: List[np.ndarray] = [np.empty(0)] * len(states)
    for k in run.roles.indices(REC):
        combined[k] = np.repeat(ref.states[k][-1:], len(rows), axis=0)
    for k in run.roles.indices(ADD):
        tail = ref.states[k][-1:].astype(np.float64) - ref.states[k][at].astype(np.float64)
        combined[k] = (states[k][rows].astype(np.float64) + tail).astype(states[k].dtype)
    for slot, k in enumerate(run.roles.indices(MAX)):
        combined[k] = np.maximum(states[k][rows], tails[slot][at])
    rows_per_call = max(1, run.batch_nt // run.session.info.stride)
    for first in range(0, len(rows), rows_per_call):
        part = slice(first, first + rows_per_call)
        feats = None if run.features is None else run.features[rows[part]]
        probs, _ = head_probs(run.session, [c[part] for c in combined], feats)
        front.out[rows[part]] = probs


def brute_force(predict: Callable[[Sequence[str]], np.ndarray], sequence: str, positions: Optional[Sequence[int]] = None,
                group: int = 256) -> np.ndarray:
    """Reference ISM through a plain ``predict`` (e.g. ``Predictor().predict``) on every variant.

    Returns (length, 4, classes) like :func:`explain_codes`; positions not asked for stay 0.
    For tests and benchmarks: it re-scores whole records, ``3 x length`` of them.
    """
    from ..alphabet import encode

    codes = encode(sequence)
    base_probs = predict([sequence])[0]
    wanted = range(len(codes)) if positions is None else positions
    delta = np.zeros((len(codes), 4, base_probs.shape[0]), dtype=np.float32)
    letters = "ACGT"
    jobs = [(i, b) for i in wanted for b in range(4) if codes[i] != b]
    for first in range(0, len(jobs), group):
        part = jobs[first : first + group]
        variants = [sequence[:i] + letters[b] + sequence[i + 1 :] for i, b in part]
        probs = predict(variants)
        for (i, b), p in zip(part, probs):
            delta[i, b] = p - base_probs
    return delta
