"""k-mer lookups that live inside the model graph: an embedding encoder, a k-mer bag and the
k-mer regression of an ensemble.

All three index the k-mer *ending* at each nucleotide (base 5 over the token codes A C G T N, so
the vocabulary is ``5**k`` and a k-mer with N or padding in it has its own rows) and carry
the previous ``k - 1`` codes as state, so chunked calls equal one call, like every other
layer. The index is integer arithmetic on slices and the lookup is a ``Gather``: both export
to plain ONNX, so the runtime stays torch-free and the tables travel inside the file.

* :class:`KmerEmbedding` replaces the one-hot encoder: each position becomes the vector of
  its k-mer (dna2vec-style, initialised from word2vec vectors, frozen or fine-tuned).
* :class:`KmerBag` is a global composition feature: the mean over the record of a learned
  vector per k-mer, i.e. a low-rank logistic regression on k-mer frequencies inside the
  network (the k-mer regression of :mod:`.regression` is the full-rank version).
* :class:`KmerFrequencyLinear` is that regression itself, with fixed weights, one k of an
  ensemble's regression member (:class:`.ensemble_model.KmerRegression`).

The carried context stores ``4 - code`` so that the all-zero start state reads as N: the
first ``k - 1`` positions of a record get k-mers padded on the left with N.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from rnaloc_infer.alphabet import ALPHABET

# TorchScript cannot read module globals, so kmer_index spells these out as literals.
N_CODE = 4  # N; padding (5) is folded onto it
BASE = 5
assert len(ALPHABET) == BASE and ALPHABET[N_CODE] == "N"
MAX_K = 8  # 5**8 = 390,625 rows: beyond that a table is too large to ship


def vocabulary_size(k: int) -> int:
    return BASE**k


def place_values(k: int, base: int = BASE) -> np.ndarray:
    """Weights of the k letters of a k-mer in its index, first letter most significant."""
    return base ** np.arange(k - 1, -1, -1)


def kmer_digits(k: int, base: int = BASE) -> np.ndarray:
    """(base**k, k) letter codes of every k-mer index, in index order."""
    return (np.arange(base**k)[:, None] // place_values(k, base)) % base


def check_k(k: int, smallest: int = 2) -> None:
    if not smallest <= k <= MAX_K:
        raise ValueError(f"k-mer size must be between {smallest} and {MAX_K}, got {k}")


def kmer_index(tokens: Tensor, context: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """(B, T) token codes + (B, W) carried context, W >= k - 1 -> (B, T) k-mer indices, new context.

    ``index[b, t] = sum_j code[t - k + 1 + j] * 5**(k - 1 - j)`` with codes before the record
    start taken from the last k - 1 context columns. Padding (code 5) counts as N; padded
    positions are masked by the callers. The new context is the last W codes.
    """
    codes = tokens.long().clamp(max=4)
    previous = 4 - context.long()
    width = context.size(1)
    full = torch.cat([previous, codes], dim=1)
    steps = tokens.size(1)
    first = width - (k - 1)
    index = full[:, first : first + steps]
    for j in range(1, k):
        index = index * 5 + full[:, first + j : first + j + steps]
    return index, _carried(full, context)


def kmer_context(tokens: Tensor, context: Tensor) -> Tensor:
    """The context :func:`kmer_index` would carry out, without computing the index."""
    return _carried(torch.cat([4 - context.long(), tokens.long().clamp(max=4)], dim=1), context)


def _carried(full: Tensor, context: Tensor) -> Tensor:
    """The last W codes of ``full`` (context columns then this call's codes) as the next context."""
    return (4 - full[:, full.size(1) - context.size(1) :]).to(context.dtype)


def kmer_counts(index: Tensor, valid: Tensor, vocabulary: int) -> Tensor:
    """(B, T) k-mer indices -> (B, vocabulary) float64 counts over the valid positions.

    Why counts: a linear model on k-mer frequencies needs only how often each k-mer occurs, so
    one scatter-add per position replaces a table row gathered per position (ONNX
    ``ScatterElements`` with ``reduction="add"``); float64 keeps the counts exact.
    """
    counts = torch.zeros(index.size(0), vocabulary, dtype=torch.float64, device=index.device)
    return counts.scatter_add(1, index, valid.to(torch.float64))


class KmerEmbedding(nn.Module):
    """Token codes -> (B, dim, T) k-mer vectors, zero at padded positions."""

    def __init__(self, k: int, dim: int, trainable: bool = True):
        super().__init__()
        check_k(k)
        self.k = k
        self.dim = dim
        self.table = nn.Embedding(vocabulary_size(k), dim)
        nn.init.normal_(self.table.weight, std=0.1)
        self.table.weight.requires_grad_(trainable)

    def state_shapes(self) -> List[List[int]]:
        return [[self.k - 1]]

    def forward(self, tokens: Tensor, valid: Tensor, context: Tensor) -> Tuple[Tensor, Tensor]:
        index, new_context = kmer_index(tokens, context, self.k)
        vectors = self.table(index) * valid.unsqueeze(2).to(self.table.weight.dtype)
        return vectors.transpose(1, 2), new_context


class KmerBag(nn.Module):
    """Mean over valid positions of a learned ``dim``-vector per k-mer, accumulated across chunks.

    State: the k-mer context, and one accumulator ``[sum (dim), count]`` kept in fp32 (an
    fp16 sum over a long record would lose the small per-k-mer contributions).
    """

    def __init__(self, k: int, dim: int):
        super().__init__()
        self.k = k
        self.dim = dim
        self.embedding = KmerEmbedding(k, dim)

    def context_shapes(self) -> List[List[int]]:
        return self.embedding.state_shapes()

    def accumulator_shapes(self) -> List[List[int]]:
        return [[self.dim + 1]]

    def forward(self, tokens: Tensor, valid: Tensor, context: Tensor, accumulator: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        vectors, new_context = self.embedding(tokens, valid, context)  # zero at padding
        validf = valid.to(torch.float32)
        total = vectors.float().sum(dim=2)
        new_accumulator = accumulator + torch.cat([total, validf.sum(dim=1, keepdim=True)], dim=1)
        mean = new_accumulator[:, : self.dim] / new_accumulator[:, self.dim :].clamp(min=1.0)
        return mean, new_context, new_accumulator


class KmerFrequencyLinear(nn.Module):
    """A linear model on k-mer frequencies, evaluated in the graph: the k-mer baseline's
    logistic regression (:mod:`.regression`), one k of an ensemble's regression member.

    For one k, ``table[i] = [w_c / scale_i for each class c] + [1]`` on N-free k-mers and zero
    rows on k-mers with N or padding, so summing ``table[index]`` over a record gives, per
    class, sum_i w_c,i * count_i / scale_i, and in its last column the number of N-free windows;
    their ratio is ``w . (frequency / scale)``. Sums are accumulated in fp32 across chunks like
    the pooling's. The tables are buffers: filled from a fitted regression, never trained.

    It reads the counts of a longer k-mer (K >= k, :func:`kmer_counts`): the k-mer ending at a
    position is the last k letters of the K-mer ending there, so summing the K-mer counts over
    their first K - k letters gives this k's counts, and every k of a regression shares one
    scatter over the record (:class:`.ensemble_model.KmerRegression`).
    """

    def __init__(self, k: int, classes: int):
        super().__init__()
        check_k(k, smallest=1)
        self.k = k
        self.classes = classes
        self.vocabulary = vocabulary_size(k)
        # float64, as the sums are: exported as is, under its own name (export/from_onnx.py reads it)
        self.register_buffer("table", torch.zeros(self.vocabulary, classes + 1, dtype=torch.float64))

    def context_shapes(self) -> List[List[int]]:
        return [[max(self.k - 1, 1)]]  # k = 1 keeps one unused column: no zero-size states

    def accumulator_shapes(self) -> List[List[int]]:
        return [[self.classes + 1]]

    def forward(self, counts: Tensor, tokens: Tensor, context: Tensor, accumulator: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """``counts``: (B, 5**K) float64 K-mer counts of this call's valid positions, K >= k."""
        own = counts.reshape(counts.size(0), -1, self.vocabulary).sum(dim=1)
        # float64: exact counts times the table; a float32 sum over a 65,536-nt chunk would drift
        new_accumulator = accumulator + (own @ self.table).to(accumulator.dtype)
        score = new_accumulator[:, : self.classes] / new_accumulator[:, self.classes :].clamp(min=1.0)
        return score, kmer_context(tokens, context), new_accumulator
