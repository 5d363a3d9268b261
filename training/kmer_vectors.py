"""word2vec k-mer vectors (dna2vec-style) for the k-mer embedding encoder, as a versioned artefact.

Training reads the training split only: each record becomes "sentences" of its overlapping
k-mers (stride 1, as dna2vec does; a k-mer with N ends the sentence), written once to a
temporary corpus file so gensim's ``corpus_file`` mode trains with all workers and no
Python loop per word. The result is saved as ``.npz`` (``allow_pickle=False`` on load, so an
artefact from elsewhere cannot run code) with rows in the model's base-5 index order
(:func:`.kmers.kmer_index`): k-mers with N keep zero rows and ``present`` marks the rows
word2vec saw.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from rnaloc_infer.alphabet import ALPHABET
from rnaloc_infer.fasta import RecordError, read_file
from rnaloc_infer.output.npz_json import check_format, load_npz, require, save_npz

from rnaloc_infer.modelfile.digest import files_sha256
from .kmers import N_CODE, check_k, kmer_digits, place_values, vocabulary_size

log = logging.getLogger(__name__)

FORMAT = "rnaloc-kmer-vectors"
FORMAT_VERSION = 1
MAX_SENTENCE = 10_000  # gensim truncates longer sentences


@dataclass
class KmerVectors:
    """A (5**k, dim) table in base-5 index order, plus where it came from."""

    k: int
    vectors: np.ndarray
    present: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def save(self, path: str | Path) -> Path:
        """Write atomically as .npz loadable with allow_pickle=False (:mod:`rnaloc_infer.output.npz_json`)."""
        header = {"format": FORMAT, "format_version": FORMAT_VERSION, "k": self.k, **self.info}
        return save_npz(path, {"vectors": self.vectors.astype(np.float32), "present": self.present}, header,
                        sort_keys=True)

    @classmethod
    def load(cls, path: str | Path) -> "KmerVectors":
        path = Path(path)
        header, arrays = load_npz(path, what="k-mer vectors")
        check_format(path, header, FORMAT, (FORMAT_VERSION,))
        require(path, arrays, ("vectors", "present"), "k-mer vectors")
        vectors, present = arrays["vectors"], arrays["present"]
        k = int(header.pop("k"))
        check_k(k)
        if vectors.ndim != 2 or vectors.shape[0] != vocabulary_size(k) or present.shape != (vectors.shape[0],):
            raise ValueError(f"{path}: table shape {vectors.shape} does not match k = {k}")
        if not np.isfinite(vectors).all():
            raise ValueError(f"{path}: table has non-finite values")
        return cls(k, vectors.astype(np.float32), present.astype(bool), header)


def kmer_words(k: int) -> np.ndarray:
    """The string of every base-5 index (``AAA`` = 0 ... ``NNN`` = 5**k - 1)."""
    letters = np.array(list(ALPHABET))
    return np.array(["".join(row) for row in letters[kmer_digits(k)]])


def sentence_lines(codes: np.ndarray, k: int, words: np.ndarray) -> Iterable[str]:
    """Overlapping k-mers of one record, split at N and every MAX_SENTENCE words."""
    if codes.size < k:
        return
    windows = np.lib.stride_tricks.sliding_window_view(codes.astype(np.int64), k)
    has_n = (windows >= N_CODE).any(axis=1)
    index = windows @ place_values(k)
    # runs of N-free k-mers
    edges = np.flatnonzero(np.diff(np.concatenate([[1], has_n.astype(np.int8), [1]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        for lo in range(start, stop, MAX_SENTENCE):
            yield " ".join(words[index[lo : min(stop, lo + MAX_SENTENCE)]])


def train_kmer_vectors(fasta_paths: Sequence[str | Path], k: int = 6, dim: int = 32, *, window: int = 5,
                       epochs: int = 3, negative: int = 5, sample: float = 1e-3, workers: int = 2,
                       seed: int = 0) -> KmerVectors:
    """Skip-gram word2vec over the records' k-mers; needs gensim (the ``[train]`` extra)."""
    from gensim.models import Word2Vec
    import gensim

    check_k(k)
    words = kmer_words(k)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        n_records = n_words = 0
        with open(corpus, "w") as out:
            for path in fasta_paths:
                for record in read_file(path):
                    if isinstance(record, RecordError):
                        raise ValueError(record.message)
                    n_records += 1
                    for line in sentence_lines(record.codes, k, words):
                        out.write(line)
                        out.write("\n")
                        n_words += line.count(" ") + 1
        log.info("word2vec corpus: %d records, %d %d-mers", n_records, n_words, k)
        model = Word2Vec(corpus_file=str(corpus), vector_size=dim, window=window, min_count=1, sg=1,
                         negative=negative, sample=sample, epochs=epochs, workers=workers, seed=seed)
    vectors = np.zeros((vocabulary_size(k), dim), dtype=np.float32)
    present = np.zeros(vocabulary_size(k), dtype=bool)
    lookup = {word: i for i, word in enumerate(words)}
    for word in model.wv.index_to_key:
        vectors[lookup[word]] = model.wv[word]
        present[lookup[word]] = True
    info = {"dim": dim, "window": window, "epochs": epochs, "negative": negative, "sample": sample, "sg": 1,
            "seed": seed, "records": n_records, "words": n_words, "gensim": gensim.__version__,
            "train_data_sha256": files_sha256(fasta_paths), "sources": [os.path.basename(str(p)) for p in fasta_paths]}
    return KmerVectors(k, vectors, present, info)


def embedding_init(table: KmerVectors) -> np.ndarray:
    """The table scaled to unit RMS over present rows: the encoder then sees inputs of the
    same scale as one-hot codes, whatever word2vec's vector norms are."""
    rows = table.vectors[table.present]
    scale = float(np.sqrt(np.mean(rows**2))) if rows.size else 1.0
    return table.vectors / max(scale, 1e-12)
