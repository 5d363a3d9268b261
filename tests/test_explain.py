"""Explain (exact in-silico mutagenesis): equals brute force, and the command's outputs.

Brute force here is the definition: every variant record scored through
``Predictor.predict`` (one-shot, from scratch), minus the record's own probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnaloc_infer import Predictor
from rnaloc_infer.alphabet import encode
from rnaloc_infer.applicability import ApplicabilityRules, flag_text
from rnaloc_infer.features.coding import N_FEATURES, coding_features
from rnaloc_infer.explain import brute_force, explain_codes, explain_sequence
from rnaloc_infer.explain.roles import ADD, MAX
from rnaloc_infer.explain.tracks import genome_positions, position_scores, top_regions
from rnaloc_infer.features.variants import substitutions
from rnaloc_infer.features.registry import CODING, CODING_UTR, feature_width, record_feature_matrix, variant_features
from rnaloc_infer.modelfile.digest import file_sha256

from conftest import random_seq, rewrite_model, write_fasta

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dm3loc_valid.fa.gz"
if not DATA.exists():
    DATA = Path("/work/shared/data/dm3loc_valid.fa.gz")
TOLERANCE = 1e-4  # the bound on every entry; float32 rounding is ~1e-6


def _real_mrna(max_length: int = 360) -> tuple:
    """The shortest validation mRNA with a long ORF (so the coding features are exercised)."""
    if not DATA.exists():
        pytest.skip("validation data not available")
    from rnaloc_infer.fasta import read_fasta

    for record in sorted(read_fasta(str(DATA)), key=lambda r: r.length):
        if record.length <= max_length and coding_features(record.codes)[0] > np.log1p(60):
            return record.id, "".join("ACGTN"[c] for c in record.codes)
    pytest.skip("no short coding mRNA in the validation data")


@pytest.mark.parametrize("model", ["default", "fast"])
def test_bundled_model_equals_brute_force(model):
    record_id, sequence = _real_mrna()
    predictor = Predictor(model, device="cpu", precision="fp32")
    explanation = explain_codes(predictor.session, encode(sequence))
    assert explanation.engine == "numpy"  # the bundled models ship their companion weights
    delta = explain_sequence(predictor, sequence)
    rng = np.random.default_rng(0)
    count = 120 if model == "default" else 60
    positions = np.sort(rng.choice(len(sequence), count, replace=False))  # 3 x count variants
    expected = brute_force(predictor.predict, sequence, positions)
    assert delta.shape == (len(sequence), 4, len(predictor.classes))
    np.testing.assert_allclose(delta[positions], expected[positions], atol=TOLERANCE, rtol=0)
    assert np.abs(expected[positions]).max() > 1e-3  # the comparison is not between zeros
    codes = encode(sequence)
    assert np.all(delta[np.arange(len(codes)), codes] == 0)  # the reference base


def test_bundled_default_roles():
    """The probe finds the pooling's and the regression's accumulators and the head call."""
    _, sequence = _real_mrna()
    predictor = Predictor("default", device="cpu", precision="fp32")
    explanation = explain_codes(predictor.session, encode(sequence), engine="onnx")
    roles = explanation.roles
    assert roles.head_call and not roles.features_in_states
    assert roles.roles.count(MAX) == 1  # one max pooling: the two networks run fused (docs/EXPORT.md)
    assert roles.roles.count(ADD) >= 4  # the pooling's sum and count + the regression accumulators


@pytest.mark.parametrize("with_n", [False, True])
def test_tiny_models_equal_brute_force(any_model, with_n):
    rng = np.random.default_rng(3)
    sequence = random_seq(rng, 150)
    if with_n:
        sequence = sequence[:40] + "N" + sequence[41:]
    predictor = Predictor(any_model, device="cpu")
    delta = explain_sequence(predictor, sequence)
    expected = brute_force(predictor.predict, sequence)
    np.testing.assert_allclose(delta, expected, atol=TOLERANCE, rtol=0)
    if with_n:
        assert np.abs(delta[40]).sum(axis=1).min() > 0  # an N gets all four substitutions


def test_early_stop_is_exact_and_saves_work(tcn_model):
    """A TCN forgets a variant after its receptive field: the tail is folded in, not run."""
    rng = np.random.default_rng(5)
    sequence = random_seq(rng, 600)
    predictor = Predictor(tcn_model, device="cpu")
    explanation = explain_codes(predictor.session, encode(sequence), block_nt=16)
    variants = 3 * len(sequence)
    assert explanation.variant_nt < 0.5 * variants * len(sequence) / 2  # far less than prefix reuse alone
    positions = np.arange(0, 600, 7)
    expected = brute_force(predictor.predict, sequence, positions)
    np.testing.assert_allclose(explanation.delta[positions], expected[positions], atol=TOLERANCE, rtol=0)


def test_tolerance_and_bad_input(tcn_model):
    predictor = Predictor(tcn_model, device="cpu")
    with pytest.raises(ValueError, match="invalid character"):
        explain_sequence(predictor, "ACGTXACGT")
    with pytest.raises(ValueError, match="empty"):
        explain_sequence(predictor, "")
    with pytest.raises(ValueError, match="longer than max_length 100"):
        explain_sequence(predictor, "A" * 101, max_length=100)
    with pytest.raises(ValueError, match="tolerance"):
        explain_codes(predictor.session, encode("ACGT"), tolerance=-1)
    assert explain_sequence(predictor, "A").shape == (1, 4, 6)


def _orf_with_utrs(rng: np.random.Generator) -> str:
    """5' UTR, ATG, 30 sense codons, TGA, 3' UTR; an N in each part (a UTR's k-mer total moves
    when it is replaced), the 3' UTR holding ATG and stop codons of every frame."""
    sense = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG", "TGA")]
    sequence = random_seq(rng, 30) + "ATG" + "".join(rng.choice(sense, 30)) + "TGA" + random_seq(rng, 60)
    return sequence[:11] + "N" + sequence[12:70] + "N" + sequence[71:150] + "N" + sequence[151:]


def _feature_records(kind: str) -> tuple:
    """(codes, rows to check) of a record: a real mRNA with an N (every third variant), an ORF with
    both UTRs, a record without an ORF (all 5' UTR), one shorter than a codon."""
    rng = np.random.default_rng(11)
    if kind == "mrna":
        _, sequence = _real_mrna()
        return encode(sequence[:200] + "N" + sequence[201:]), 3
    sequence = {"orf": _orf_with_utrs(rng), "no-orf": "ACNGT" + random_seq(rng, 55), "tiny": "AN"}[kind]
    return encode(sequence), 1


@pytest.mark.parametrize("kind", ["mrna", "orf", "no-orf", "tiny"])
@pytest.mark.parametrize("name", [CODING, CODING_UTR])
def test_variant_features_equal_recomputed(name, kind):
    codes, every = _feature_records(kind)
    positions, bases = substitutions(codes)
    features = variant_features(codes, positions, bases, name, block_rows=50)  # several blocks
    assert features.shape == (len(positions), feature_width(name)) and features.dtype == np.float32
    for row in range(0, len(positions), every):
        variant = codes.copy()
        variant[positions[row]] = bases[row]
        np.testing.assert_array_equal(features[row], record_feature_matrix([variant], name)[0],
                                      err_msg=f"{positions[row]} -> {'ACGT'[bases[row]]}")
    if kind == "orf" and name == CODING_UTR:  # the ORF's ATG and stop move, so do the UTR bounds
        reference = record_feature_matrix([codes], name)[0]
        assert (features[:, N_FEATURES:] != reference[N_FEATURES:]).any(axis=1).sum() > len(codes)


def test_scores_regions_and_genome_positions():
    delta = np.zeros((5, 4, 1), dtype=np.float32)
    delta[1, :, 0] = [-0.3, 0.0, 0.1, 0.2]  # reference C at 1: mean of A, G, T
    delta[4, :, 0] = [0.4, 0.4, 0.4, 0.4]  # N: all four
    scores = position_scores(delta, encode("ACGTN"))
    assert scores["mean"][1, 0] == pytest.approx(0.0, abs=1e-7)
    assert scores["min"][1, 0] == pytest.approx(-0.3)
    assert scores["mean"][4, 0] == pytest.approx(0.4)
    regions = top_regions(np.array([0, 0, -1, -1, 0, 0, 0.5, 0]), 2, 3)
    assert [(r.start, r.end) for r in regions][:2] == [(2, 4), (5, 7)] and regions[0].direction == "supports"
    exons = [(10, 13), (20, 22)]
    assert genome_positions(exons, "+").tolist() == [10, 11, 12, 20, 21]
    assert genome_positions(exons, "-").tolist() == [21, 20, 12, 11, 10]


def _bedgraph(path: Path) -> dict:
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    return {(r[0], int(r[1])): float(r[3]) for r in rows}


def _short_sha(predictor: Predictor) -> str:
    return f"(sha256 {file_sha256(predictor.model_path)[:8]})"


def _check_outputs(folder: Path, predictor: Predictor, record_id: str, sequence: str) -> np.ndarray:
    with np.load(folder / "ism.npz") as npz:
        assert str(npz["record_id"]) == record_id and str(npz["model_id"]).endswith(_short_sha(predictor))
        delta = npz["delta"]
        assert str(npz["sequence"]) == sequence
        rules = predictor.info.applicability
        assert str(npz["applicability"]) == flag_text(None if rules is None else rules.check(encode(sequence)))
    np.testing.assert_allclose(delta, explain_sequence(predictor, sequence), atol=1e-6)
    assert (folder / "ism.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    regions = (folder / "regions.tsv").read_text().splitlines()
    assert len(regions) == 1 + 2 * len(predictor.classes)  # --top-regions 2
    scores = position_scores(delta, encode(sequence))
    for c, name in enumerate(predictor.classes):
        for stat in ("mean", "min"):
            track = (folder / f"{name}.{stat}.bedgraph").read_text().splitlines()[0]
            assert track.startswith("track ") and _short_sha(predictor) in track  # the model's weights, not just its version
            values = _bedgraph(folder / f"{name}.{stat}.bedgraph")
            assert len(values) == len(sequence)
            assert values[(record_id, 7)] == pytest.approx(scores[stat][7, c], rel=1e-5, abs=1e-9)
    return scores["mean"]


def test_cli_fasta(tcn_model, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")  # the CLI draws a PNG unless --no-plot
    from rnaloc_infer.cli.explain import main
    from rnaloc_infer.explain import plot

    titles = []
    drawn = plot.plot_explanation

    def draw(path, record_id, model_id, *rest, **options):
        titles.append(model_id)  # what the PNG's title names the model by
        return drawn(path, record_id, model_id, *rest, **options)

    monkeypatch.setattr(plot, "plot_explanation", draw)
    rng = np.random.default_rng(11)
    records = [("first", random_seq(rng, 90)), ("second", random_seq(rng, 120))]
    fasta = write_fasta(tmp_path / "in.fa", records)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(fasta), "-o", str(out), "--model", str(tcn_model), "--ids", "second",
                                       "--top-regions", "2", "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["index.tsv", "predictions.tsv", "predictions.tsv.json", "second"]
    assert (out / "index.tsv").read_text() == "record_id\tdirectory\nsecond\tsecond\n"
    predictor = Predictor(tcn_model, device="cpu")
    label = f"tcn.onnx {predictor.info.package_version} {_short_sha(predictor)}"
    assert titles == [label]  # the PNG's title names the model by its weights
    assert f"with model {label}" in result.output  # and so does the log
    _check_outputs(out / "second", predictor, "second", records[1][1])


def test_cli_genome_and_annotation(tcn_model, tmp_path):
    pytest.importorskip("pyfaidx")
    from rnaloc_infer.cli.explain import main

    rng = np.random.default_rng(12)
    chrom = random_seq(rng, 400)
    (tmp_path / "genome.fa").write_text(f">chr1\n{chrom}\n")
    exons = [(50, 110), (200, 260)]  # 0-based half open
    lines = []
    for tid, strand in (("TX1", "+"), ("TX2", "-")):
        attrs = f'gene_id "G{tid}"; transcript_id "{tid}"; gene_name "N{tid}"; transcript_type "protein_coding";'
        lines += [f"chr1\tT\texon\t{s + 1}\t{e}\t.\t{strand}\t.\t{attrs}" for s, e in exons]
    (tmp_path / "genes.gtf").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(tmp_path / "genome.fa"), "--annotation", str(tmp_path / "genes.gtf"),
                                       "--transcripts", "TX2", "-o", str(out), "--model", str(tcn_model),
                                       "--top-regions", "2", "-q", "--workers", "2", "--intra-op-threads", "2"])
    assert result.exit_code == 0, result.output
    spliced = chrom[50:110] + chrom[200:260]
    minus = spliced.translate(str.maketrans("ACGT", "TGCA"))[::-1]
    predictor = Predictor(tcn_model, device="cpu")
    mean = _check_outputs(out / "TX2", predictor, "TX2", minus)
    genome = _bedgraph(out / "TX2" / "genome" / f"{predictor.classes[0]}.mean.bedgraph")
    assert len(genome) == 120 and set(c for c, _ in genome) == {"chr1"}
    assert genome[("chr1", 259)] == pytest.approx(mean[0, 0], rel=1e-5, abs=1e-9)  # 5' end on the minus strand
    assert genome[("chr1", 50)] == pytest.approx(mean[119, 0], rel=1e-5, abs=1e-9)
    assert genome[("chr1", 200)] == pytest.approx(mean[59, 0], rel=1e-5, abs=1e-9)  # across the intron


def test_cli_errors(tcn_model, tmp_path):
    from rnaloc_infer.cli.explain import main

    rng = np.random.default_rng(13)
    fasta = write_fasta(tmp_path / "in.fa", [("short", random_seq(rng, 50)), ("long", random_seq(rng, 300))])
    bad = tmp_path / "bad.fa"
    bad.write_text(">ok\nACGT\n>broken\nACGT!!\n")
    out = tmp_path / "out"
    runner = CliRunner()
    cases = [
        ([str(fasta), "--max-length", "200"], "record 'long' (#2): 300 nt is longer than --max-length 200"),
        ([str(bad)], "record 'broken'"),
        ([str(fasta), "--ids", "nope"], "no record nope"),
        ([str(tmp_path / "missing.fa")], "no such file"),
    ]
    ruled = tmp_path / "ruled.onnx"  # the same model with applicability rules: 'short' has no ORF
    rules = ApplicabilityRules(min_length=10, max_length=10_000, max_n_fraction=0.5, min_orf_codons=30,
                               max_ambiguous_fraction=0.1)
    rewrite_model(tcn_model, ruled, set_props={"rnaloc.applicability": rules.to_json()})
    result = runner.invoke(main, [str(fasta), "--ids", "short", "--out-of-range", "error", "--model", str(ruled),
                                  "-o", str(out), "-q"])
    assert result.exit_code == 1 and "'short' (#1): outside the model's training range (no_orf" in result.output
    assert not out.exists() or not any(out.iterdir())
    for args, message in cases:
        result = runner.invoke(main, args + ["-o", str(out), "--model", str(tcn_model), "-q"])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
        assert not out.exists() or not any(out.iterdir())  # nothing half written
