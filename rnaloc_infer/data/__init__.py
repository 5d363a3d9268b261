"""Files shipped inside the package, so examples work from an installed wheel.

``example_fasta()``: eight human mRNAs (the repository's examples/example.fa);
``model_card()``: the default model's card (docs/MODEL_CARD.md: data, metrics, limits,
what is out of range). Both are copies kept identical by tests/test_packaging.py.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _path(name: str) -> Path:
    return Path(str(resources.files(__name__).joinpath(name)))


def example_fasta() -> Path:
    """Path of the bundled example FASTA (8 records)."""
    return _path("example.fa")


def model_card() -> Path:
    """Path of the bundled copy of the model card (Markdown)."""
    return _path("MODEL_CARD.md")
