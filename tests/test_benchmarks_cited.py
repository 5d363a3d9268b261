"""benchmarks/ holds only measurements that back a figure in the docs (issue 31): every script
there is cited with its command in README.md or docs/*.md, and every benchmarks/ or
experiments/ script the docs cite exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HELPER_MODULES = {"fo_pooling_formulations.py"}  # imported by onnx_fo_pooling.py and tests, no figure of its own
# Cited as history: removed in 40a3008 (docs/MODEL_CARD.md), or living on another branch (docs/RESULTS.md).
NOT_HERE = {"benchmarks/release_default.sh", "benchmarks/head_forest_stability.py"}


def _docs_text() -> str:
    return "\n".join(path.read_text() for path in DOCS)


def test_every_benchmark_is_cited_with_its_command():
    text = _docs_text()
    scripts = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))
    assert "end_to_end.py" in scripts
    uncited = [s for s in scripts if s not in HELPER_MODULES and f"python benchmarks/{s}" not in text]
    assert not uncited, f"benchmarks without a `python benchmarks/NAME.py` command in the docs: {uncited}"
    listed = (ROOT / "benchmarks" / "README.md").read_text()
    assert [s for s in scripts if f"`{s}`" not in listed] == []


def test_every_cited_script_exists_and_no_checkpoint_is_committed():
    cited = set(re.findall(r"\b((?:benchmarks|experiments)/[\w/]+\.(?:py|sh))", _docs_text()))
    assert "benchmarks/end_to_end.py" in cited and "experiments/tree_heads.py" in cited
    missing = sorted(c for c in cited - NOT_HERE if not (ROOT / c).is_file())
    assert not missing, f"the docs cite scripts that are not there: {missing}"
    assert not (ROOT / "benchmarks" / "architectures").exists()
    listed = (ROOT / "experiments" / "README.md").read_text()
    scripts = [p.relative_to(ROOT / "experiments").as_posix() for p in (ROOT / "experiments").rglob("*") if p.suffix in (".py", ".sh")]
    assert scripts and [s for s in scripts if f"`{s}`" not in listed] == []
