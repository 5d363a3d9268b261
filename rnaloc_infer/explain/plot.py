"""The ISM picture: one track per class along the transcript, CDS and UTRs marked.

matplotlib is the ``[plots]`` extra and is imported only here, only when a picture is asked
for, so the runtime does not need it.
"""

from __future__ import annotations

from typing import IO, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..profile import ProfileRow, named_classes
from .tracks import Region


def require_matplotlib() -> None:
    """Raise ImportError with the install hint before any work, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("the PNG needs matplotlib: pip install 'rnaloc-infer[plots]' (or leave the picture out)") from None


def headline(classes: Sequence[str], reference: Sequence[float], prevalence: Optional[Sequence[float]] = None,
             thresholds: Optional[Sequence[float]] = None) -> str:
    """The picture's first line: which compartment the record favours.

    With the model's training prevalence, the class with the largest lift over its prior
    (the largest ``rel_`` value of the relative profile, rnaloc_infer.profile) with that
    value and its probability: the highest probability names the class with the highest base
    rate for almost every record (Exosome on the bundled default), which says nothing.
    A class the model never labels (``thresholds`` +inf) is not named, as in BED/GFF3.
    Without prevalence, the class with the highest probability, as before."""
    if prevalence is not None:
        top, rel = ProfileRow(prevalence).top(reference, named_classes(thresholds) if thresholds is not None else None)
        return (f"favours {classes[top]}: rel {rel:+.2f} (log2 odds over its training base rate, relative to "
                f"the record's other classes), P={float(reference[top]):.2f}")
    top = int(np.argmax(reference))
    return f"highest probability: {classes[top]}, P={float(reference[top]):.2f} (model without training prevalence)"


def plot_explanation(out: IO[bytes], record_id: str, model_id: str, classes: Sequence[str], reference: np.ndarray,
                     thresholds: Sequence[float], scores: Dict[str, np.ndarray], regions: Dict[str, List[Region]],
                     cds: Optional[Tuple[int, int, str]], labelled: int = 3,
                     prevalence: Optional[Sequence[float]] = None) -> None:
    """Write the PNG to ``out`` (the caller makes the file atomic): per class the mean change (bars) and the most negative change (grey line)
    per position; the CDS shaded, UTRs named; the top ``labelled`` regions numbered. The title
    starts with :func:`headline`; each track keeps its probability (and its rel value when
    ``prevalence`` is given)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    length = scores["mean"].shape[0]
    rel = ProfileRow(prevalence)(reference)[1:] if prevalence is not None else None
    x = np.arange(1, length + 1)
    fig, axes = plt.subplots(len(classes), 1, figsize=(12, 1.45 * len(classes) + 1.3), sharex=True, squeeze=False)
    for row, name in enumerate(classes):
        ax = axes[row, 0]
        mean, lowest = scores["mean"][:, row], scores["min"][:, row]
        if cds is not None:
            ax.axvspan(cds[0] + 1, cds[1], color="#f3e6b3", zorder=0, lw=0)
        ax.plot(x, lowest, color="0.65", lw=0.5, zorder=1, label="most negative substitution")
        ax.fill_between(x, 0, mean, where=mean < 0, color="#2c5fa8", lw=0, step="mid", zorder=2, label="mean: supports")
        ax.fill_between(x, 0, mean, where=mean >= 0, color="#c0392b", lw=0, step="mid", zorder=2, label="mean: opposes")
        ax.axhline(0, color="k", lw=0.4)
        for rank, region in enumerate(regions[name][:labelled], 1):
            ax.annotate(str(rank), xy=((region.start + region.end) / 2 + 0.5, 0), xytext=(0, 9 if region.effect > 0 else -11),
                        textcoords="offset points", ha="center", va="center", fontsize=7, color="k",
                        bbox=dict(boxstyle="circle,pad=0.15", fc="white", ec="0.3", lw=0.5))
        called = "  (called)" if reference[row] >= thresholds[row] else ""
        lift = f"\nrel {rel[row]:+.2f}" if rel is not None else ""
        ax.set_ylabel(f"{name}\nP={reference[row]:.2f}{called}{lift}", rotation=0, ha="right", va="center", fontsize=9)
        ax.tick_params(labelsize=7)
        spread = float(np.max(np.abs(lowest))) or 1e-3
        ax.set_ylim(-1.15 * spread, max(1.15 * float(np.max(mean)), 0.25 * spread))
    top = axes[0, 0]
    if cds is not None:
        start, end, source = cds
        for left, right, label in ((0, start, "5′ UTR"), (start, end, source), (end, length, "3′ UTR")):
            if right - left > 0:
                top.text((left + right) / 2 + 0.5, 1.02, label, transform=top.get_xaxis_transform(), ha="center",
                         va="bottom", fontsize=8)
    axes[-1, 0].set_xlabel("transcript position (nt, 5′ → 3′)")
    axes[-1, 0].set_xlim(0.5, length + 0.5)
    handles, labels = top.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{record_id}: {headline(classes, reference, prevalence, thresholds)}\n"
                 f"change in probability per point mutation (in-silico mutagenesis, model {model_id})\n"
                 "blue = the sequence there supports the class (mutating it lowers P); numbers = top regions "
                 "(regions.tsv)", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    try:
        fig.savefig(out, dpi=110, format="png")
    finally:
        plt.close(fig)
