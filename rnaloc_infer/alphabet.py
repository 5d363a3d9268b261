"""Nucleotide alphabet shared by training, export and the runtime.

Sequences become uint8 codes (A=0, C=1, G=2, T=3, N=4, padding=5). The one-hot
expansion to 5 channels happens *inside* the model (a fixed 6x5 lookup table whose
padding row is zero), so the runtime moves one byte per nucleotide instead of twenty
and never needs torch.
"""

from __future__ import annotations

import numpy as np

ALPHABET = "ACGTN"
PAD_CODE = 5
N_CODE = 4

# Every byte maps to a code; U/u read as T, lowercase accepted, any other IUPAC
# ambiguity code (R, Y, K, M, S, W, B, D, H, V) and '-'/'.'/'*' gaps as N.
_LUT = np.full(256, 255, dtype=np.uint8)
for _code, _letters in enumerate(("Aa", "Cc", "Gg", "TtUu")):
    for _ch in _letters:
        _LUT[ord(_ch)] = _code
for _ch in "NnRrYyKkMmSsWwBbDdHhVv-.":
    _LUT[ord(_ch)] = N_CODE
INVALID = 255

NUCLEOTIDE_LETTERS = frozenset("ACGTUNRYKMSWBDHV-.acgtunrykmswbdhv")
_PLAIN_LETTERS = b"ACGTUNacgtun"


def encode(sequence: str | bytes) -> np.ndarray:
    """Map a nucleotide string to uint8 codes; raises ValueError on non-nucleotide letters.

    The error names the first offending character so a caller can name the record.
    """
    raw = sequence.encode("ascii", "replace") if isinstance(sequence, str) else bytes(sequence)
    codes = _LUT[np.frombuffer(raw, dtype=np.uint8)]
    bad = np.flatnonzero(codes == INVALID)
    if bad.size:
        pos = int(bad[0])
        char = chr(raw[pos]) if 32 <= raw[pos] < 127 else f"\\x{raw[pos]:02x}"
        raise ValueError(f"invalid character {char!r} at position {pos + 1} (not a nucleotide code)")
    return codes


def count_ambiguous(raw: str | bytes) -> int:
    """Letters other than A/C/G/T/U/N (either case): IUPAC ambiguity codes and gaps.

    Why here: the codes map all of them to N, so only the letters can tell them apart; the
    reader counts them as it encodes (``Record.ambiguous``, for the applicability flags)."""
    data = raw.encode("ascii", "replace") if isinstance(raw, str) else bytes(raw)
    return len(data.translate(None, _PLAIN_LETTERS))


def pad_batch(encoded: list[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad encoded sequences with PAD_CODE into a (batch, length) uint8 array plus lengths."""
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    width = int(lengths.max(initial=0)) if length is None else length
    tokens = np.full((len(encoded), width), PAD_CODE, dtype=np.uint8)
    for row, codes in enumerate(encoded):
        tokens[row, : len(codes)] = codes
    return tokens, lengths
