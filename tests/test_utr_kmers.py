"""The UTR k-mer columns of ``coding-utr-v1`` (rnaloc_infer/features/utr_kmers.py, registry.py):
counted as a plain loop over each UTR would count them, whatever the batching."""

from __future__ import annotations

import numpy as np
import pytest

import rnaloc_infer.features.utr_kmers as utr_kmers
from rnaloc_infer.alphabet import encode
from rnaloc_infer.features.coding import MIN_ORF_CODONS, N_FEATURES, coding_feature_matrix, longest_orf
from rnaloc_infer.features.registry import CODING, CODING_UTR, check_feature_set, extends, feature_width, record_feature_matrix

from conftest import random_seq


def _naive_frequencies(codes: np.ndarray, ks) -> np.ndarray:
    blocks = []
    for k in ks:
        counts = np.zeros(4**k)
        for j in range(len(codes) - k + 1):
            window = codes[j : j + k]
            if (window < 4).all():
                counts[int("".join(map(str, window)), 4)] += 1
        blocks.append(counts / max(counts.sum(), 1))
    return np.concatenate(blocks)


def _naive_utr_row(codes: np.ndarray) -> np.ndarray:
    start, codons = longest_orf(codes)
    if codons >= MIN_ORF_CODONS:
        utr5, utr3 = codes[:start], codes[min(len(codes), start + 3 * codons + 3):]
    else:
        utr5, utr3 = codes, codes[:0]
    return np.concatenate([_naive_frequencies(utr3, utr_kmers.UTR3_KS), _naive_frequencies(utr5, utr_kmers.UTR5_KS)])


def _records(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    orf = "GCCATG" + "GCT" * 40 + "TAA"  # a sure ORF: both UTRs are the random flanks
    out = [encode(random_seq(rng, int(rng.integers(0, 300)), "ACGTN" if i % 3 else "ACGT") + orf
                  + random_seq(rng, int(rng.integers(0, 300)), "ACGTN")) for i in range(n)]
    return out + [encode("ACGTN" * 20), encode("A"), encode(""), encode("ATG" + "GCT" * 30)]  # no ORF; ORF to the end


def test_utr_columns_count_each_utr_as_a_loop_would():
    records = _records(12)
    rows = record_feature_matrix(records, CODING_UTR)
    assert rows.shape == (len(records), N_FEATURES + utr_kmers.N_UTR_FEATURES) == (len(records), feature_width(CODING_UTR))
    np.testing.assert_array_equal(rows[:, :N_FEATURES], coding_feature_matrix(records))  # coding-v1 leads, unchanged
    for codes, row in zip(records, rows):
        np.testing.assert_allclose(row[N_FEATURES:], _naive_utr_row(codes), rtol=0, atol=1e-7)
    blocks = np.split(rows[:, N_FEATURES:], np.cumsum([4**k for k in utr_kmers.UTR3_KS + utr_kmers.UTR5_KS])[:-1], axis=1)
    sums = np.stack([block.sum(axis=1) for block in blocks])
    assert np.all(np.isclose(sums, 1.0, atol=1e-5) | (sums == 0)) and np.isclose(sums, 1.0).mean() > 0.6  # frequencies, or no k-mer
    assert not rows[-4:-2, N_FEATURES:N_FEATURES + 1364].any()  # no ORF: no 3' UTR


def test_counting_blocks_do_not_change_the_counts(monkeypatch):
    records = _records(30, seed=1)
    whole = record_feature_matrix(records, CODING_UTR)
    monkeypatch.setattr(utr_kmers, "BLOCK_WINDOWS", 97)  # windows of a record split across blocks
    np.testing.assert_array_equal(record_feature_matrix(records, CODING_UTR), whole)
    np.testing.assert_array_equal(record_feature_matrix(records[3:4], CODING_UTR)[0], whole[3])  # alone = in a batch


def test_feature_sets_are_named_and_ordered():
    assert feature_width("") == 0 and feature_width(CODING) == N_FEATURES
    assert extends(CODING_UTR, CODING) and extends(CODING, CODING) and not extends(CODING, CODING_UTR)
    assert not extends(CODING_UTR, "")  # a forest on features needs a regression that reads them
    with pytest.raises(ValueError, match="unknown feature set 'coding-v9'"):
        check_feature_set("coding-v9")
    assert record_feature_matrix([encode("ACGT")], "").shape == (1, 0)
