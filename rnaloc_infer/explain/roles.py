"""What each carried state of an exported model does, found by probing the graph.

Why probe: the runtime knows a model only through its ONNX contract (tokens, lengths,
states in and out), and in-silico mutagenesis needs to know which states may be combined
instead of recomputed. A variant at position i changes the states after i; once its
*recurrent* states (k-mer and convolution contexts, QRNN/LSTM cells) equal the
reference's again, the rest of the record runs exactly as in the reference, and only the
*accumulators* of the pooling and the k-mer regression differ. Those can be completed
from the reference run without running the tail:

* ``add``: sums and counts; the state after a chunk is the state before plus an
  increment that does not depend on the state (pooling sum and count, regression sums).
* ``max``: the state after a chunk is max(state before, the chunk's maximum).
* ``rec``: everything else, compared between variant and reference.

Each role is checked, not assumed: a chunk of the record itself is run from a real
mid-record state with every state in turn perturbed (set very low, very high, or shifted),
and a state gets ``add`` or ``max`` only when its own output behaves exactly so and no
other state output moves. Anything else is ``rec``, which is always safe (it only costs
speed). Also checked: that a call with no nucleotides (``lengths`` 0) returns the
probabilities of the final states it is given (the *head call* that completes a variant), and
whether the ``features`` input reaches the carried states (then a variant whose features
differ cannot reuse the reference's states at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..alphabet import PAD_CODE
from ..errors import ModelError
from ..session import ModelSession

ADD, MAX, REC = "add", "max", "rec"


@dataclass(frozen=True)
class StateRoles:
    """Per-state roles plus the two facts early stopping relies on."""

    roles: Tuple[str, ...]
    head_call: bool  # a lengths-0 call maps the final states to the record's probabilities
    features_in_states: bool  # the features input changes carried states

    def indices(self, role: str) -> List[int]:
        return [k for k, r in enumerate(self.roles) if r == role]

    @property
    def early_stop(self) -> bool:
        """Whether a converged variant can be completed without running its tail."""
        return self.head_call


def _extremes(dtype: np.dtype) -> Tuple[float, float]:
    big = 6.0e4 if np.dtype(dtype) == np.float16 else 1.0e30
    return -big, big


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.all(np.abs(a - b) <= 1e-6 + 1e-5 * np.maximum(np.abs(a), np.abs(b))))


def head_probs(session: ModelSession, states: Sequence[np.ndarray], features: Optional[np.ndarray]) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Probabilities of given carried states: one call with no nucleotides (all padding)."""
    rows = states[0].shape[0]
    tokens = np.full((rows, session.info.stride), PAD_CODE, dtype=np.uint8)
    return session.run(tokens, np.zeros(rows, dtype=np.int64), list(states), features)


def _run_rows(session: ModelSession, codes: np.ndarray, rows: List[List[np.ndarray]],
              features: Optional[np.ndarray]) -> List[np.ndarray]:
    """Run one chunk from each of several full state lists; returns the stacked state outputs."""
    batch = len(rows)
    stacked = [np.concatenate([row[k] for row in rows]) for k in range(len(rows[0]))]
    tokens = np.repeat(codes[None, :], batch, axis=0)
    feats = None if features is None else np.repeat(features, batch, axis=0)
    _, out = session.run(tokens, np.full(batch, len(codes), dtype=np.int64), stacked, feats)
    return [out_k if isinstance(out_k, np.ndarray) else out_k.numpy() for out_k in out]


def probe_roles(session: ModelSession, sites: Sequence[Tuple[np.ndarray, List[np.ndarray]]],
                final_states: List[np.ndarray], final_probs: np.ndarray, features: Optional[np.ndarray]) -> StateRoles:
    """Roles from probing ``sites``: (codes of one chunk, the reference states before it, batch 1),
    at least two, each past the record's first chunk; plus the record's final states and
    probabilities (for the head call). With fewer than two sites every state is ``rec``.

    Step 1 swaps one state at a time for its (real, hence valid) value at another site: an
    ``add`` state's output moves by exactly the swap, a ``max`` state's output stays at or
    above its input, and neither moves another state. Step 2 sets each survivor to an
    extreme low and high value (never a state that failed step 1: a k-mer context is an
    index and must stay in range): only a ``max`` state then reports the chunk's maximum.
    """
    n_states = len(session.state_shapes)
    candidates = {k: {ADD, MAX} if len(sites) >= 2 else set() for k in range(n_states)}
    features_in_states = features is not None and len(sites) < 2  # unknown: assume the worst
    for a, (codes, before) in enumerate(sites):
        donor = sites[(a + 1) % len(sites)][1]
        rows = [before] + [[donor[m] if m == k else before[m] for m in range(n_states)] for k in range(n_states)]
        out = _run_rows(session, codes, rows, features)
        if features is not None:
            moved = _run_rows(session, codes, [before], features + 1.0)
            features_in_states |= not all(_close(moved[m][0], out[m][0]) for m in range(n_states))
        for k in range(n_states):
            row = 1 + k
            if not all(_close(out[m][row], out[m][0]) for m in range(n_states) if m != k) or np.array_equal(donor[k], before[k]):
                candidates[k].clear()
                continue
            shift = np.asarray(donor[k][0], np.float64) - np.asarray(before[k][0], np.float64)
            moved_by = np.asarray(out[k][row], np.float64) - np.asarray(out[k][0], np.float64)
            if not np.all(np.abs(moved_by - shift) <= 1e-3 + 1e-5 * np.abs(out[k][0])):
                candidates[k].discard(ADD)
            if not (np.all(out[k][0] >= before[k][0]) and np.all(out[k][row] >= donor[k][0])):
                candidates[k].discard(MAX)
    for codes, before in sites:
        # A max state whose input already exceeded the chunk's maximum also passes the swap
        # test for add; the extremes tell them apart (an add state stays near the low value).
        for k in [k for k in range(n_states) if candidates[k]]:
            low, high = _extremes(before[k].dtype)
            rows = [before, [np.full_like(s, low) if m == k else s for m, s in enumerate(before)],
                    [np.full_like(s, high) if m == k else s for m, s in enumerate(before)]]
            try:
                out = _run_rows(session, codes, rows, features)
            except ModelError:
                candidates[k].clear()
                continue
            chunk_max = out[k][1]
            is_max = (all(_close(out[m][r], out[m][0]) for m in range(n_states) if m != k for r in (1, 2))
                      and np.all(chunk_max > low / 2) and np.all(out[k][2] == high)
                      and _close(out[k][0], np.maximum(before[k][0], chunk_max)))
            candidates[k].discard(ADD if is_max else MAX)
    roles = tuple(MAX if MAX in candidates[k] else ADD if ADD in candidates[k] else REC for k in range(n_states))
    try:
        probs, _ = head_probs(session, final_states, features)  # contexts may shift; only probs matter
        head_call = _close(probs, final_probs)
    except ModelError:
        head_call = False
    return StateRoles(roles, head_call, features_in_states)
