"""The relative compartment profile (rnaloc_infer.profile): its arithmetic, the metadata it
needs (rnaloc.prevalence), and `rnaloc-infer --profile` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import random_seq, read_table, rewrite_model, write_fasta
from rnaloc_infer.cli.predict import main
from rnaloc_infer.errors import ModelError
from rnaloc_infer.evaluation.specificity import specificity_report
from rnaloc_infer.profile import (log2_odds, parse_prevalence, prevalence_from_labels, profile_columns,
                                  ProfileRow, relative_profile)

PREVALENCE = (0.69, 0.99, 0.56, 0.30, 0.19, 0.11)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def profiled_model(tcn_model, tmp_path_factory) -> Path:
    """The tiny model with a training prevalence in its metadata, as refit-metadata writes it."""
    target = tmp_path_factory.mktemp("profiled") / "profiled.onnx"
    return rewrite_model(tcn_model, target, set_props={"rnaloc.prevalence": json.dumps(PREVALENCE)})


def test_level_and_relative_split_the_log_odds_against_prevalence():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.001, 0.999, size=(50, 6))
    level, rel = relative_profile(probs, PREVALENCE)
    assert level.shape == (50,) and rel.shape == (50, 6)
    np.testing.assert_allclose(rel.sum(axis=1), 0.0, atol=1e-12)  # "which" carries no "how many"
    np.testing.assert_allclose(level[:, None] + rel, log2_odds(probs) - log2_odds(np.array(PREVALENCE)), atol=1e-12)
    # a record at every class's base rate is typical in both respects
    level0, rel0 = relative_profile(np.array(PREVALENCE), PREVALENCE)
    assert abs(level0) < 1e-12 and np.allclose(rel0, 0.0)
    # doubling every class's odds moves the level by one log2 unit and leaves "which" alone
    odds = probs / (1 - probs)
    level2, rel2 = relative_profile(2 * odds / (1 + 2 * odds), PREVALENCE)
    np.testing.assert_allclose(level2 - level, 1.0, atol=1e-9)
    np.testing.assert_allclose(rel2, rel, atol=1e-9)


def test_saturated_probabilities_stay_finite():
    level, rel = relative_profile(np.array([[0.0, 1.0, 0.5, 0.5, 0.5, 0.5]]), PREVALENCE)
    assert np.isfinite(level).all() and np.isfinite(rel).all()
    assert rel[0, 1] > 0 > rel[0, 0]


def test_pairs_on_the_profile_rank_as_log_odds_not_as_probabilities():
    """The figure that motivated the profile: p(A) - p(B) mixes base rates with "how many"."""
    rng = np.random.default_rng(1)
    n = 400
    y = (rng.random((n, 6)) < np.array(PREVALENCE)).astype(np.int8)
    logits = rng.normal(size=(n, 6)) + 1.5 * y + rng.normal(size=(n, 1))  # a shared "how many" term
    probs = 1 / (1 + np.exp(-logits))
    on_probs = specificity_report(y, probs, ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"])
    on_profile = specificity_report(y, relative_profile(probs, PREVALENCE)[1], on_probs.classes)
    for plain, rel in zip(on_probs.pairs, on_profile.pairs):
        assert rel.auroc == pytest.approx(plain.auroc_log_odds, abs=1e-12)
        assert rel.auroc_same_count == pytest.approx(plain.auroc_log_odds_same_count, abs=1e-12)
        assert np.isnan(rel.auroc_log_odds)  # profile values are not probabilities: no second scoring


def test_prevalence_from_labels_and_its_checks():
    y = np.array([[1, 0], [1, 1], [0, 1], [1, 1]])
    assert prevalence_from_labels(y) == [0.75, 0.75]
    with pytest.raises(ValueError, match="positive and negative"):
        prevalence_from_labels(np.array([[1, 0], [1, 1]]))
    assert parse_prevalence("[0.5, 0.25]", 2) == (0.5, 0.25)
    for text, problem in (("[0.5]", "2 numbers"), ("[0.5, 1.0]", "strictly between"), ("[true, 0.5]", "numbers"),
                          ("nope", "JSON"), ('{"a": 1}', "2 numbers")):
        with pytest.raises(ValueError, match=problem):
            parse_prevalence(text, 2)


def test_cli_profile_columns_follow_the_probabilities(profiled_model, tmp_path):
    rng = np.random.default_rng(2)
    fasta = write_fasta(tmp_path / "in.fa", [(f"r{i}", random_seq(rng, 300 + 40 * i)) for i in range(5)])
    result = invoke(fasta, "--model", profiled_model, "--profile", "-q")
    assert result.exit_code == 0, result.stderr
    columns, rows = read_table(result.stdout)
    classes = columns[2:8]
    assert columns[-7:] == profile_columns(classes)
    assert columns[8:10] == ["labels", "applicability"]  # earlier columns keep their positions
    for row in rows:
        probs = np.array([float(v) for v in row[2:8]])
        level, rel = relative_profile(probs, PREVALENCE)
        written = np.array([float(v) for v in row[-7:]])
        # from 4-decimal probabilities: agrees to the rounding of the printed values
        np.testing.assert_allclose(written, [level, *rel], atol=0.01)
        assert abs(written[1:].sum()) < 1e-3
    jsonl = invoke(fasta, "--model", profiled_model, "--profile", "-q", "--format", "jsonl")
    first = json.loads(jsonl.stdout.splitlines()[0])
    assert isinstance(first["level"], float) and set(f"rel_{c}" for c in classes) <= set(first)


def test_cli_profile_without_prevalence_is_refused_before_any_output(tcn_model, tmp_path):
    fasta = write_fasta(tmp_path / "in.fa", [("a", "ACGT" * 80)])
    out = tmp_path / "out.tsv"
    result = invoke(fasta, "--model", tcn_model, "--profile", "-o", out)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "rnaloc.prevalence" in lines[0] and "refit-metadata" in lines[0], result.stderr
    assert not out.exists()
    plain = invoke(fasta, "--model", tcn_model, "-q")  # without --profile the same model runs as before
    assert plain.exit_code == 0 and "rel_" not in plain.stdout


def test_bad_prevalence_metadata_is_a_one_line_model_error(tcn_model, tmp_path):
    bad = rewrite_model(tcn_model, tmp_path / "bad.onnx", set_props={"rnaloc.prevalence": "[0.5, 2]"})
    fasta = write_fasta(tmp_path / "in.fa", [("a", "ACGT" * 80)])
    result = invoke(fasta, "--model", bad)
    assert result.exit_code == 1 and "rnaloc.prevalence must list 6 numbers" in result.stderr


def test_api_relative_profile(profiled_model, tcn_model):
    from rnaloc_infer.api import Predictor

    predictor = Predictor(profiled_model, device="cpu")
    probs = predictor.predict(["ACGU" * 100, "GGCAUU" * 70])
    level, rel = predictor.relative_profile(probs)
    np.testing.assert_allclose(rel, relative_profile(probs, PREVALENCE)[1])
    with pytest.raises(ModelError, match="refit-metadata"):
        Predictor(tcn_model, device="cpu").relative_profile(probs)


def test_bundled_models_carry_their_training_prevalence():
    """Shipped with it (refit-metadata), so `rnaloc-infer --profile` works out of the box."""
    from rnaloc_infer.api import Predictor

    for name in ("default", "fast"):
        prevalence = Predictor(name, device="cpu").info.prevalence
        assert prevalence is not None and len(prevalence) == 6
        assert 0.98 < prevalence[1] < 1.0 and 0.05 < prevalence[-1] < 0.2  # Exosome ~99 %, ER ~11 % in train


def test_refit_writes_the_training_prevalence(tiny_data, tmp_path, tcn_model):
    pytest.importorskip("onnx")
    from rnaloc_infer.evaluation.labels import read_labels
    from rnaloc_infer.export.refit import refit_metadata
    from rnaloc_infer.session import ModelSession

    model = Path(shutil.copy(tcn_model, tmp_path / "refit.onnx"))
    report = refit_metadata(model, tiny_data / "tiny_valid.fa.gz", tiny_data / "tiny_valid_labels.tsv",
                            tiny_data / "tiny_train.fa.gz", train_labels=tiny_data / "tiny_train_labels.tsv")
    info = ModelSession(model, device="cpu").info
    y = read_labels(tiny_data / "tiny_train_labels.tsv", info.classes).y
    assert info.prevalence == pytest.approx(tuple(y.mean(axis=0)))
    assert report["prevalence"] == pytest.approx(list(info.prevalence))


def test_profile_values_print_with_fixed_decimals_in_every_table_format():
    import io

    from rnaloc_infer.output.genome_formats import BedWriter, Gff3Writer
    from rnaloc_infer.output.tables import ResultWriter

    classes = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
    probs = np.array(PREVALENCE)  # a typical record: level 0, every rel_ 0
    columns = profile_columns(classes)
    values = ProfileRow(PREVALENCE)(probs)
    assert values == [0.0] * 7
    tsv = io.StringIO()
    ResultWriter(tsv, "tsv", classes, [0.5] * 6, extra_columns=columns).write("r", 10, probs, values)
    assert tsv.getvalue().splitlines()[1].split("\t")[-7:] == ["0.0000"] * 7
    coords = ["chrom", "start", "end", "strand"]
    bed, gff = io.StringIO(), io.StringIO()
    for writer in (BedWriter(bed, classes, [0.5] * 6, extra_columns=coords + columns),
                   Gff3Writer(gff, classes, [0.5] * 6, extra_columns=coords + columns)):
        writer.write("r", 10, probs, ["chr1", 5, 14, "+", *values])
    assert bed.getvalue().splitlines()[1].split("\t")[-7:] == ["0.0000"] * 7
    assert "level=0.0000;rel_Nucleus=0.0000" in gff.getvalue()


def test_relative_delta_is_the_profile_of_the_mutated_record():
    from rnaloc_infer.profile import relative_delta

    rng = np.random.default_rng(3)
    reference = rng.uniform(0.05, 0.95, 6)
    mutated = np.clip(reference + rng.normal(0, 0.05, size=(7, 4, 6)), 0.01, 0.99)
    out = relative_delta(reference, mutated - reference)
    assert out.shape == (7, 4, 6)
    np.testing.assert_allclose(out, relative_profile(mutated, PREVALENCE)[1] - relative_profile(reference, PREVALENCE)[1],
                               atol=1e-12)
    np.testing.assert_allclose(out.sum(axis=-1), 0.0, atol=1e-9)
    # a substitution that changes nothing changes no rel_ value
    assert np.allclose(relative_delta(reference, np.zeros((2, 4, 6))), 0.0)


def test_the_row_writer_computes_what_relative_profile_computes():
    """ProfileRow (plain floats, per output row) and relative_profile (numpy, arrays) are
    two spellings of one formula: they must agree to the written rounding."""
    rng = np.random.default_rng(4)
    probs = np.concatenate([rng.uniform(0, 1, (200, 6)), [[0.0, 1.0, 0.5, 1e-9, 1 - 1e-9, 0.3]]]).astype(np.float32)
    level, rel = relative_profile(probs, PREVALENCE)
    row = ProfileRow(PREVALENCE)
    rows = np.array([row(p) for p in probs])
    np.testing.assert_allclose(rows[:, 0], level, atol=5.1e-5)
    np.testing.assert_allclose(rows[:, 1:], rel, atol=5.1e-5)
