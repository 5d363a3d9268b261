"""Outputs that say which compartment (issue #33): BED/GFF3 ``top_class`` and score by the lift
over the prior, the explain headline, classes without a label (threshold null), and class
names that cannot break a column."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import read_table, rewrite_model, write_fasta, random_seq
from rnaloc_infer.cli.predict import main
from rnaloc_infer.output.genome_formats import BedWriter, Gff3Writer
from rnaloc_infer.profile import lift_score, relative_profile

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
PREVALENCE = (0.69, 0.99, 0.56, 0.30, 0.19, 0.11)  # the bundled default's, rounded
COORDS = ["chrom", "start", "end", "strand"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _bed_rows(text: str):
    return [line.split("\t") for line in text.splitlines() if not line.startswith("#")]


# --------------------------------------------------------------------------- writers
def test_bed_ranks_by_lift_where_the_top_probability_is_always_the_commonest_class():
    """Exosome has the highest probability in every record (as on the bundled default), but
    each record favours another compartment over its base rate: that is the top class, and
    the score follows the lift, not the saturated probability."""
    records = {
        "er": [0.60, 0.995, 0.50, 0.30, 0.20, 0.45],        # ER far above its 11 %
        "nuc": [0.95, 0.99, 0.50, 0.25, 0.15, 0.10],        # Nucleus above its 69 %
        "typical": [0.70, 0.99, 0.56, 0.31, 0.19, 0.11],    # at the base rates: no lift
    }
    bed = io.StringIO()
    writer = BedWriter(bed, CLASSES, [0.5] * 6, extra_columns=COORDS, prevalence=PREVALENCE)
    for name, probs in records.items():
        writer.write(name, 100, np.array(probs), ["chr1", 1, 100, "+"], labels=[])
    rows = {r[3]: r for r in _bed_rows(bed.getvalue())}
    assert {name: r[6] for name, r in rows.items()} == {"er": "ER", "nuc": "Nucleus", "typical": "Nucleus"}
    probs = np.array(list(records.values()))
    assert all(CLASSES[int(np.argmax(p))] == "Exosome" for p in probs)  # what top_class used to say
    _, rel = relative_profile(probs, PREVALENCE)
    expected = [round(1000 * math.tanh(r.max() / 2)) for r in rel]
    assert [int(rows[name][4]) for name in records] == expected
    assert expected[0] > 600 and expected[2] < 100  # the browser's shading now separates them
    # the probability columns stay probabilities
    assert [float(x) for x in rows["er"][9:15]] == pytest.approx(records["er"], abs=1e-4)


def test_gff3_score_is_the_lift_score_and_without_prevalence_the_top_probability():
    probs = np.array([0.60, 0.995, 0.50, 0.30, 0.20, 0.45])
    with_prev, without = io.StringIO(), io.StringIO()
    Gff3Writer(with_prev, CLASSES, [0.5] * 6, extra_columns=COORDS, prevalence=PREVALENCE).write(
        "r", 100, probs, ["chr1", 1, 100, "+"])
    Gff3Writer(without, CLASSES, [0.5] * 6, extra_columns=COORDS).write("r", 100, probs, ["chr1", 1, 100, "+"])
    row = with_prev.getvalue().splitlines()[1].split("\t")
    _, rel = relative_profile(probs, PREVALENCE)
    assert float(row[5]) == pytest.approx(math.tanh(rel.max() / 2), abs=1e-4) and "top_class=ER" in row[8]
    assert "prob_Exosome=0.9950" in row[8]
    old = without.getvalue().splitlines()[1].split("\t")
    assert old[5] == "0.9950" and "top_class=Exosome" in old[8]


def test_lift_score_is_monotone_from_zero():
    values = [lift_score(r) for r in (0.0, 0.5, 1.0, 2.0, 3.0, 8.0)]
    assert values[0] == 0.0 and values == sorted(values) and len(set(values)) == 6 and values[-1] < 1.0
    assert lift_score(-0.3) == 0.0


# --------------------------------------------------------------------------- genome runs
def test_genome_bed_top_class_varies_and_scores_spread(tcn_model, genome, tmp_path):
    """On the synthetic genome, with a prevalence at the tiny model's own average output (a
    model's outputs average near its training prevalence), the BED's top_class and score follow
    each transcript's lift: several classes, several scores, each as the profile computes it."""
    table = tmp_path / "g.tsv"
    result = invoke(genome / "genome.fa", "--annotation", genome / "ann.gtf", "--model", tcn_model, "-q", "-o", table)
    assert result.exit_code == 0, result.output
    columns, rows = read_table(table.read_text())
    probs = np.array([[float(r[columns.index(c)]) for c in CLASSES] for r in rows])
    prevalence = [float(x) for x in probs.mean(axis=0)]
    model = rewrite_model(tcn_model, tmp_path / "prev.onnx", set_props={"rnaloc.prevalence": json.dumps(prevalence)})
    bed, gff, tsv = tmp_path / "g.bed", tmp_path / "g.gff3", tmp_path / "g2.tsv"
    for out in (bed, gff, tsv):
        result = invoke(genome / "genome.fa", "--annotation", genome / "ann.gtf", "--model", model, "-q", "-o", out)
        assert result.exit_code == 0, result.output
    assert tsv.read_text() == table.read_text()  # the table keeps the probabilities (no --profile: no rel_ columns)
    bed_rows = _bed_rows(bed.read_text())
    _, rel = relative_profile(np.array([[float(x) for x in r[9:15]] for r in bed_rows]), prevalence)
    assert [r[6] for r in bed_rows] == [CLASSES[int(np.argmax(x))] for x in rel]
    # recomputed from the 4-decimal probabilities the files carry: within rounding
    assert [int(r[4]) for r in bed_rows] == pytest.approx([1000 * math.tanh(x.max() / 2) for x in rel], abs=1)
    assert len({r[6] for r in bed_rows}) >= 2 and len({r[4] for r in bed_rows}) >= 4
    gff_scores = [float(line.split("\t")[5]) for line in gff.read_text().splitlines()[1:]]
    assert gff_scores == pytest.approx([math.tanh(x.max() / 2) for x in rel], abs=1e-3)


# --------------------------------------------------------------------------- no label
def _unlabelled_model(tcn_model, tmp_path: Path, thresholds) -> Path:
    return rewrite_model(tcn_model, tmp_path / "nolabel.onnx", set_props={"rnaloc.thresholds": json.dumps(thresholds)})


def test_null_threshold_is_never_labelled_and_named_in_the_sidecar(tcn_model, tmp_path):
    fasta = write_fasta(tmp_path / "in.fa", [(f"r{i}", random_seq(np.random.default_rng(i), 200 + 40 * i)) for i in range(6)])
    labelled = _unlabelled_model(tcn_model, tmp_path, [0.3, 0.0, 0.5, 0.5, 0.6, 0.7])
    shutil.move(labelled, tmp_path / "zero.onnx")
    model = _unlabelled_model(tcn_model, tmp_path, [0.3, None, 0.5, 0.5, 0.6, 0.7])
    out_zero, out_null = tmp_path / "zero.tsv", tmp_path / "null.tsv"
    assert invoke(fasta, "--model", tmp_path / "zero.onnx", "-q", "-o", out_zero).exit_code == 0
    assert invoke(fasta, "--model", model, "-q", "-o", out_null).exit_code == 0
    columns, zero_rows = read_table(out_zero.read_text())
    _, null_rows = read_table(out_null.read_text())
    at = columns.index("labels")
    assert all("Exosome" in r[at].split(",") for r in zero_rows)  # threshold 0: every record
    assert not any("Exosome" in r[at].split(",") for r in null_rows)  # null: none
    for zero, null in zip(zero_rows, null_rows):  # the rest is unchanged
        assert [x for x in zero[at].split(",") if x != "Exosome"] == [x for x in null[at].split(",") if x not in ("Exosome", "-")]
        assert zero[:at] == null[:at]
    sidecar = json.loads((tmp_path / "null.tsv.json").read_text())["model"]
    assert sidecar["unlabelled_classes"] == ["Exosome"] and sidecar["thresholds"]["Exosome"] is None
    assert sidecar["thresholds"]["Nucleus"] == 0.3
    assert json.loads((tmp_path / "zero.tsv.json").read_text())["model"]["unlabelled_classes"] == []


def test_null_threshold_through_the_api(tcn_model, tmp_path):
    from rnaloc_infer.api import Predictor

    model = _unlabelled_model(tcn_model, tmp_path, [0.0, None, 0.0, 0.0, 0.0, 0.0])
    predictor = Predictor(model, device="cpu")
    assert predictor.info.unlabelled_classes == ("Exosome",)
    fasta = write_fasta(tmp_path / "in.fa", [("r", random_seq(np.random.default_rng(0), 300))])
    prediction = next(iter(predictor.predict_fasta(fasta)))
    assert set(prediction.labels) == {"Nucleus", "Cytosol", "Ribosome", "Membrane", "ER"}  # thresholds 0, but null


def test_refit_no_label_writes_null(tiny_data, tmp_path, tcn_model):
    pytest.importorskip("onnx")
    from rnaloc_infer.export.refit import refit_metadata
    from rnaloc_infer.modelfile.metadata import read_metadata
    from rnaloc_infer.session import ModelSession

    model = Path(shutil.copy(tcn_model, tmp_path / "refit.onnx"))
    report = refit_metadata(model, tiny_data / "tiny_valid.fa.gz", tiny_data / "tiny_valid_labels.tsv",
                            tiny_data / "tiny_train.fa.gz", no_label=["Exosome"])
    thresholds = json.loads(read_metadata(model)["rnaloc.thresholds"])
    assert thresholds[1] is None and all(isinstance(t, float) for i, t in enumerate(thresholds) if i != 1)
    assert ModelSession(model, device="cpu").info.unlabelled_classes == ("Exosome",)
    assert report["unlabelled_classes"] == ["Exosome"] and report["classes"][1]["threshold"] is None
    json.dumps(report, allow_nan=False)  # the report stays strict JSON
    with pytest.raises(ValueError, match="--no-label Golgi: not a class"):
        refit_metadata(model, tiny_data / "tiny_valid.fa.gz", tiny_data / "tiny_valid_labels.tsv",
                       tiny_data / "tiny_train.fa.gz", no_label=["Golgi"])
    with pytest.raises(ValueError, match="names every class"):
        refit_metadata(model, tiny_data / "tiny_valid.fa.gz", tiny_data / "tiny_valid_labels.tsv",
                       tiny_data / "tiny_train.fa.gz", no_label=CLASSES, write=False)


# --------------------------------------------------------------------------- explain headline
def test_explain_headline_names_the_class_with_the_largest_lift():
    from rnaloc_infer.explain.plot import headline

    probs = [0.60, 0.995, 0.50, 0.30, 0.20, 0.45]
    _, rel = relative_profile(np.array(probs), PREVALENCE)
    text = headline(CLASSES, probs, PREVALENCE)
    assert text.startswith("favours ER: rel ") and f"rel {rel.max():+.2f}" in text and "P=0.45" in text
    assert headline(CLASSES, probs).startswith("highest probability: Exosome, P=0.99")


def test_explain_png_title_carries_the_headline(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.figure

    from rnaloc_infer.explain.plot import plot_explanation

    titles = []
    original = matplotlib.figure.Figure.suptitle
    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle", lambda self, t, **kw: titles.append(t) or original(self, t, **kw))
    length = 30
    scores = {"mean": np.zeros((length, 6)), "min": np.zeros((length, 6))}
    with open(tmp_path / "x.png", "wb") as out:
        plot_explanation(out, "rec", "m", CLASSES, np.array([0.60, 0.995, 0.50, 0.30, 0.20, 0.45]), [0.5] * 6, scores,
                         {c: [] for c in CLASSES}, None, prevalence=PREVALENCE)
    assert titles and titles[0].startswith("rec: favours ER: rel +")
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_class_the_model_never_labels_is_never_the_top_class():
    """Exosome with a null threshold (+inf in memory, as the bundled default ships it): a
    record whose largest lift is Exosome's is named by its next class, in BED, GFF3 and the
    explain headline; the score and the rel value stay the rel_ column's of the class named."""
    from rnaloc_infer.explain.plot import headline
    from rnaloc_infer.output.genome_formats import Gff3Writer
    from rnaloc_infer.profile import named_classes

    probs = np.array([0.72, 0.9995, 0.57, 0.33, 0.22, 0.14])  # Exosome far above its 99 %, the rest near theirs
    _, rel = relative_profile(probs[None], PREVALENCE)
    assert CLASSES[int(np.argmax(rel[0]))] == "Exosome"
    thresholds = [0.5, math.inf, 0.5, 0.5, 0.5, 0.5]
    assert named_classes(thresholds) == [0, 2, 3, 4, 5] and named_classes([0.5] * 6) is None
    second = max((i for i in range(6) if i != 1), key=lambda i: rel[0][i])
    bed, gff = io.StringIO(), io.StringIO()
    BedWriter(bed, CLASSES, thresholds, extra_columns=COORDS, prevalence=PREVALENCE).write(
        "r", 100, probs, ["chr1", 1, 100, "+"], labels=[])
    Gff3Writer(gff, CLASSES, thresholds, extra_columns=COORDS, prevalence=PREVALENCE).write("r", 100, probs, ["chr1", 1, 100, "+"])
    row = _bed_rows(bed.getvalue())[0]
    assert row[6] == CLASSES[second] and int(row[4]) == round(1000 * lift_score(rel[0][second]))
    assert f"top_class={CLASSES[second]}" in gff.getvalue()
    assert headline(CLASSES, probs, PREVALENCE, thresholds).startswith(f"favours {CLASSES[second]}: rel {rel[0][second]:+.2f}")
    assert headline(CLASSES, probs, PREVALENCE).startswith("favours Exosome")  # no thresholds given: every class
