"""The encoded protein's features: the ORF search against a brute-force reference, and the
figures of hand-built transcripts whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnaloc_infer.alphabet import encode
from rnaloc_infer.features.coding import FEATURE_NAMES, MIN_ORF_CODONS, N_FEATURES, coding_feature_matrix, coding_features, longest_orf

STOPS = ("TAA", "TAG", "TGA")
COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


def brute_force_longest(text: str) -> int:
    """Longest ATG-initiated ORF (codons, stop excluded) by walking every start codon."""
    best = 0
    for start in range(len(text) - 2):
        if text[start : start + 3] != "ATG":
            continue
        codons = 0
        for pos in range(start, len(text) - 2, 3):
            if text[pos : pos + 3] in STOPS:
                break
            codons += 1
        best = max(best, codons)
    return best


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ACGTN", min_size=0, max_size=400))
def test_longest_orf_matches_brute_force(text):
    start, codons = longest_orf(encode(text))
    assert codons == brute_force_longest(text)
    if codons:
        orf = text[start : start + 3 * codons]
        assert orf.startswith("ATG")
        assert not any(orf[i : i + 3] in STOPS for i in range(0, len(orf), 3))


def transcript(cds_body: str, utr5: str = "CCCCC", utr3: str = "GGGGGGG") -> str:
    return utr5 + "ATG" + cds_body + "TAA" + utr3


def test_orf_position_and_utr_lengths():
    text = transcript("GCT" * 40)
    features = coding_features(encode(text))
    assert longest_orf(encode(text)) == (5, 41)
    assert features[COLUMN["log_orf_codons"]] == pytest.approx(np.log1p(41))
    assert features[COLUMN["log_utr5_nt"]] == pytest.approx(np.log1p(5))
    assert features[COLUMN["log_utr3_nt"]] == pytest.approx(np.log1p(7))


def test_a_transmembrane_segment_is_found():
    polar = "GAA" * 30  # Glu, hydropathy -3.5
    leucines = "CTG" * 22  # Leu, 3.8: one 22-residue hydrophobic stretch
    membrane = coding_features(encode(transcript(polar + leucines + polar)))
    soluble = coding_features(encode(transcript(polar + polar)))
    assert membrane[COLUMN["max_hydropathy_19"]] == pytest.approx(3.8, abs=1e-5)
    assert membrane[COLUMN["log_tm_segments"]] == pytest.approx(np.log1p(1))
    assert membrane[COLUMN["tm_window_fraction"]] > 0
    assert soluble[COLUMN["log_tm_segments"]] == 0 and soluble[COLUMN["tm_window_fraction"]] == 0
    # the stretch starts at residue 31, past the 35-residue signal-peptide span's 10-residue windows
    assert membrane[COLUMN["signal_core_hydropathy"]] < 0


def test_a_signal_peptide_core_is_found():
    signal = coding_features(encode(transcript("CTG" * 12 + "GAA" * 40)))
    assert signal[COLUMN["signal_core_hydropathy"]] > 3.0
    assert signal[COLUMN["max_hydropathy_19_n_terminal"]] > 1.0


def test_usage_frequencies():
    features = coding_features(encode(transcript("GCT" * 29 + "GCC" * 10)))  # ATG + 39 Ala
    aa = features[COLUMN["aa_A"] : COLUMN["aa_A"] + 20]
    codons = features[COLUMN["codon_AAA"] :]
    assert aa.sum() == pytest.approx(1.0) and codons.sum() == pytest.approx(1.0)
    assert features[COLUMN["aa_A"]] == pytest.approx(39 / 40) and features[COLUMN["aa_M"]] == pytest.approx(1 / 40)
    assert features[COLUMN["codon_GCT"]] == pytest.approx(29 / 40) and features[COLUMN["codon_GCC"]] == pytest.approx(10 / 40)
    assert features[COLUMN["gc3"]] == pytest.approx(11 / 40)  # GCC's and ATG's third bases are C and G
    assert not any(name.endswith(stop) for stop in STOPS for name in FEATURE_NAMES)


def test_n_codons_extend_an_orf_but_count_for_nothing():
    with_n = coding_features(encode(transcript("GCT" * 20 + "GNT" + "GCT" * 20)))
    assert longest_orf(encode(transcript("GCT" * 20 + "GNT" + "GCT" * 20)))[1] == 42
    assert with_n[COLUMN["aa_A"]] == pytest.approx(40 / 41)  # 41 known codons: ATG + 40 Ala


def test_records_without_an_orf():
    for text in ("", "C", "CCCCCCCCCCCCCCCCCC", "ATG" + "GCT" * (MIN_ORF_CODONS - 2) + "TAA"):
        features = coding_features(encode(text))
        assert features.shape == (N_FEATURES,) and features.dtype == np.float32
        assert features[COLUMN["log_utr5_nt"]] == pytest.approx(np.log1p(len(text)))
        assert np.count_nonzero(features) == (1 if text else 0)


def test_rna_and_dna_agree_and_matrix_stacks():
    dna = transcript("GCTTTGGAA" * 10)
    rows = coding_feature_matrix([encode(dna), encode(dna.replace("T", "U").lower())])
    np.testing.assert_array_equal(rows[0], rows[1])
    assert coding_feature_matrix([]).shape == (0, N_FEATURES)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="ACGTN", min_size=0, max_size=300), st.integers(1, 20))
def test_blockwise_orf_search_equals_one_block(text, block_nt):
    codes = encode(text)
    assert longest_orf(codes, block_nt=block_nt) == longest_orf(codes)


def per_record_reference(codes: np.ndarray) -> np.ndarray:
    """The per-record implementation that the batched one replaced (kept as the oracle)."""
    from rnaloc_infer.features import coding as c

    out = np.zeros(N_FEATURES)
    start, n = longest_orf(codes)
    if n < MIN_ORF_CODONS:
        out[1] = np.log1p(len(codes))
        return out.astype(np.float32)
    out[0], out[1], out[2] = np.log1p(n), np.log1p(start), np.log1p(max(len(codes) - start - 3 * (n + 1), 0))
    index = c._codon_track(codes[start : start + 3 * n])[::3]
    known = index != c._NO_CODON
    hydropathy = np.where(known, c._HYDROPATHY[np.minimum(index, 63)], 0.0)

    def means(values, width):
        sums = np.concatenate(([0.0], np.cumsum(values)))
        return (sums[width:] - sums[:-width]) / width

    if n >= c.TM_WINDOW:
        windows = means(hydropathy, c.TM_WINDOW)
        above = windows > c.TM_THRESHOLD
        out[3], out[4] = windows.max(), above.mean()
        out[5] = np.log1p(int(above[0]) + int(np.count_nonzero(above[1:] & ~above[:-1])))
        out[6] = windows[: c.N_TERMINAL_WINDOWS].max()
    out[7] = hydropathy.mean()
    out[8] = means(hydropathy[: c.SIGNAL_SPAN], c.SIGNAL_WINDOW).max()
    third = codes[start + 2 : start + 3 * n : 3]
    out[9] = np.count_nonzero((third == 1) | (third == 2)) / n
    sense = index[known]
    if sense.size:
        out[10:30] = np.bincount(c._AMINO_ACID_OF[sense], minlength=21)[:20] / sense.size
        out[30:] = np.bincount(sense, minlength=64)[c._SENSE] / sense.size
    return out.astype(np.float32)


def _orf_rich(rng: np.random.Generator, length: int) -> np.ndarray:
    """Random codes with planted ATGs, leucine runs and Ns, so every feature gets exercised."""
    codes = rng.integers(0, 4, length).astype(np.uint8)
    for pos in rng.integers(0, max(length - 80, 1), 3 if length >= 3 else 0):
        codes[pos : pos + 3] = (0, 3, 2)  # ATG
        run = codes[pos + 3 : pos + 3 + 66]
        run[: len(run) // 3 * 3] = np.tile([1, 3, 2], len(run) // 3)  # CTG: leucine
    codes[rng.random(length) < 0.002] = 4
    return codes


def test_batched_features_equal_the_per_record_oracle():
    """Every column bit-identical except the mean hydropathy (pairwise sums: float tolerance)."""
    rng = np.random.default_rng(7)
    lengths = list(rng.integers(0, 400, 300)) + list(rng.integers(400, 6_000, 40)) + [2, 3, 60_000]
    records = [_orf_rich(rng, int(n)) for n in lengths]
    batched = coding_feature_matrix(records)
    oracle = np.stack([per_record_reference(r) for r in records])
    exact = [i for i in range(N_FEATURES) if i != COLUMN["mean_hydropathy"]]
    np.testing.assert_array_equal(batched[:, exact], oracle[:, exact])
    np.testing.assert_allclose(batched[:, COLUMN["mean_hydropathy"]], oracle[:, COLUMN["mean_hydropathy"]], rtol=1e-6, atol=1e-12)
    assert np.count_nonzero(oracle[:, COLUMN["tm_window_fraction"]]) > 10  # the planted segments were seen


def test_rows_do_not_depend_on_their_batch(monkeypatch):
    """Grouping (length-sorted groups, the long-record path) changes no row."""
    from rnaloc_infer.features import coding

    rng = np.random.default_rng(3)
    records = [_orf_rich(rng, int(n)) for n in rng.integers(50, 3_000, 60)]
    together = coding_feature_matrix(records)
    monkeypatch.setattr(coding, "BATCH_NT", 2_000)
    monkeypatch.setattr(coding, "LONG_NT", 1_500)
    np.testing.assert_array_equal(coding_feature_matrix(records), together)
    np.testing.assert_array_equal(np.stack([coding_features(r) for r in records[::-1]]), together[::-1])


def test_batched_orf_lengths_and_applicability_checks_equal_per_record(monkeypatch):
    from rnaloc_infer.features import coding
    from rnaloc_infer.applicability import ApplicabilityRules
    from rnaloc_infer.features.coding import longest_orf_codons

    rng = np.random.default_rng(11)
    records = [_orf_rich(rng, int(n)) for n in list(rng.integers(0, 500, 200)) + [4_000, 9_000]]
    expected = [longest_orf(r)[1] for r in records]
    assert longest_orf_codons(records).tolist() == expected
    monkeypatch.setattr(coding, "LONG_NT", 3_000)  # the two long ones through the block-wise search
    assert longest_orf_codons(records).tolist() == expected
    rules = ApplicabilityRules(min_length=50, max_length=5_000, max_n_fraction=0.001, min_orf_codons=25,
                               max_ambiguous_fraction=0.05)
    ambiguous = list(rng.integers(0, 3, len(records)))
    checked = rules.check_many(records, ambiguous)
    assert checked == [rules.check(r, a) for r, a in zip(records, ambiguous)]
    assert any("no_orf" in f for f in checked) and any("no_orf" not in f for f in checked)


def test_vectorised_applicability_raises_every_flag_as_the_per_record_check_does():
    """check_many's one-call-per-batch tests give check()'s tuples, every flag and its order
    included, with ORF codons searched or handed over (the runtime's feature search)."""
    from rnaloc_infer.applicability import FLAGS, ApplicabilityRules
    from rnaloc_infer.features.registry import CODING_UTR, record_feature_matrix, record_features_and_orfs

    rng = np.random.default_rng(12)
    records = [_orf_rich(rng, int(n)) for n in rng.integers(1, 700, 120)]
    for r in records[::7]:  # some N-rich records
        r[rng.integers(0, len(r), max(1, len(r) // 20))] = 4
    records += [np.zeros(0, np.uint8), np.full(30, 4, np.uint8)]
    rules = ApplicabilityRules(min_length=40, max_length=600, max_n_fraction=0.02, min_orf_codons=25,
                               max_ambiguous_fraction=0.01)
    ambiguous = [int(a) for a in rng.integers(0, 4, len(records))]
    expected = [rules.check(r, a) for r, a in zip(records, ambiguous)]
    assert set(FLAGS) == {flag for flags in expected for flag in flags}
    assert any(len(flags) >= 2 for flags in expected) and () in expected
    assert rules.check_many(records, ambiguous) == expected
    features, orfs = record_features_and_orfs(records, CODING_UTR)
    assert orfs.tolist() == [longest_orf(r)[1] for r in records]
    np.testing.assert_array_equal(features, record_feature_matrix(records, CODING_UTR))
    assert rules.check_many(records, ambiguous, orfs) == expected
    assert rules.check_many([], []) == []
    assert record_features_and_orfs(records[:3], "")[1] is None
