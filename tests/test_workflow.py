"""examples/snakemake/Snakefile runs under real Snakemake (the ``[workflow]`` extra) and its
merged table equals one `rnaloc-infer` run over the whole input; its Python-API rule gives
the same rows. Skipped when Snakemake is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CLI, cli_env, random_seq, write_fasta

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "examples" / "snakemake" / "Snakefile"


def test_snakemake_split_predict_merge_keeps_input_order(tcn_model, tmp_path):
    pytest.importorskip("snakemake", reason="Snakemake not installed (pip install 'rnaloc-infer[workflow]')")
    rng = np.random.default_rng(4)
    source = write_fasta(tmp_path / "in.fa", [(f"s{i} desc", random_seq(rng, int(rng.integers(30, 700)))) for i in range(23)], width=50)
    env = {**cli_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--cores", "2", "--directory", str(work), "--quiet",
         "--config", f"input={source}", "parts=4", f"model={tcn_model}", "--", "all", "results/api_predictions.tsv"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    direct = subprocess.run(CLI + [str(source), "--model", str(tcn_model), "-q"], capture_output=True, text=True, env=env, check=True).stdout
    merged = (work / "results" / "predictions.tsv").read_text()
    assert merged == direct
    assert [line.split("\t")[0] for line in merged.splitlines()[1:]] == [f"s{i}" for i in range(23)]
    parts = sorted((work / "results" / "parts").glob("part_*.tsv"))
    assert len(parts) == 4 and all(p.with_suffix(".tsv.json").is_file() for p in parts)
    assert (work / "results" / "api_predictions.tsv").read_text() == direct
