"""BED6+ and GFF3 writers for genome-mode runs (``--annotation``): one feature per transcript.

Both take the same ``write(record_id, length, probs, extra, applicability=)`` calls as the
table writer, with ``extra`` holding the genome columns (``chrom``, ``start`` 1-based,
``end``, ``strand``, ``gene_id``, ``gene_name``, ``transcript_type``) and the labels the run
path decided (None: no call, out of range), and like it write their header with the first row (or at ``finish()``), never before.

BED (UCSC / GA4GH BEDv1): 0-based half-open ``chromStart``/``chromEnd`` over the
transcript's span (first exon start to last exon end); ``name`` = transcript id;
``score`` an integer 0-1000 as BED requires (browsers shade features by it); then extra
columns: ``top_class``, ``labels``,
``applicability``, one probability per class, ``gene_id``, ``gene_name``, ``transcript_type``.
A ``#``-comment first line names the columns (BED allows comment lines; bedtools and
pybedtools skip it).

GFF3 (Sequence Ontology GFF3 1.26): ``##gff-version 3``, 1-based inclusive coordinates,
type ``transcript``, source ``rnaloc-infer``, score a float in [0, 1] (below); the
attributes carry ``ID`` (transcript id) and lower-case tags (upper-case tags are reserved
by the spec): ``labels`` (comma-separated, ``-`` for none), ``top_class``, ``applicability``
(``ok``, comma-separated flags, or ``-``), ``prob_<Class>``
per class, ``gene_id``, ``gene_name``, ``transcript_type``; values are percent-encoded
where GFF3 requires it.

``top_class`` and the score say *which* compartment (issue #33). For a model with training
prevalence (``rnaloc.prevalence``, the bundled models have it) ``top_class`` is the class
with the largest lift over its prior, the largest ``rel_`` value of the relative profile
(rnaloc_infer.profile) among the classes the model labels (a class whose threshold is null,
never labelled, is never named: :func:`~rnaloc_infer.profile.named_classes`), and the score
is :func:`~rnaloc_infer.profile.lift_score` of that rel value: BED ``round(1000 x tanh(rel / 2))``, GFF3 ``tanh(rel / 2)`` with 4 decimals.
The highest probability names the class with the highest base rate for almost every
record (Exosome, 99 % of training mRNAs, for all 2,776 validation records), so it said
nothing. A model without prevalence keeps the class with the highest probability and
scores it by that probability (BED 1000 x p, GFF3 p). The probability columns and
``prob_`` attributes are the probabilities either way.
"""

from __future__ import annotations

from typing import IO, Any, Dict, List, Optional, Sequence
from urllib.parse import quote

import numpy as np

from ..applicability import flag_text
from ..errors import output_error
from ..profile import ProfileRow, lift_score, named_classes
from .tables import PROB_DECIMALS, cell_text, label_text

COORDINATE_COLUMNS = ("chrom", "start", "end", "strand")
BED_SCORE_SCALE = 1000
GFF3_SOURCE = "rnaloc-infer"
GFF3_TYPE = "transcript"
# GFF3 column 9: these characters must be escaped in tag values (spec, "Column 9").
_GFF3_SAFE = " !\"#$'()*+-./:<>?@[\\]^_`{|}~"


def gff3_escape(value: str) -> str:
    """Percent-encode ; = & , tab, newline, % and control characters in an attribute value."""
    return quote(str(value), safe=_GFF3_SAFE + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class _GenomeWriter:
    """Shared bookkeeping: labels, the top class, stream errors as OutputError."""

    def __init__(self, stream: IO[str], classes: Sequence[str], thresholds: Sequence[float], *,
                 extra_columns: Sequence[str], name: str = "output", prevalence: Optional[Sequence[float]] = None):
        missing = [c for c in COORDINATE_COLUMNS if c not in extra_columns]
        if missing:
            raise ValueError(f"BED/GFF3 output needs transcript coordinates (--annotation); missing {missing}")
        self._stream = stream
        self._classes = list(classes)
        self._thresholds = list(thresholds)
        self._extra_columns = list(extra_columns)
        self._others = [c for c in self._extra_columns if c not in COORDINATE_COLUMNS]
        self._name = name
        self._lift = ProfileRow(prevalence) if prevalence is not None else None
        self._named = named_classes(self._thresholds)
        self.columns: List[str] = []
        self._header = ""
        self._header_written = False

    def _start(self) -> None:
        if not self._header_written:
            self._header_written = True
            self._write(self._header)

    def finish(self) -> None:
        """End of a successful run: writes the header when no row came."""
        self._start()

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
        except OSError as exc:
            raise output_error(self._name, exc) from None

    def _row(self, probs: np.ndarray, extra: Sequence[Any]) -> tuple:
        """(annotation fields, top class, score in [0, 1]): by lift with prevalence, else by probability."""
        if len(extra) != len(self._extra_columns):
            raise ValueError(f"expected {len(self._extra_columns)} extra values, got {len(extra)}")
        self._start()
        fields: Dict[str, Any] = dict(zip(self._extra_columns, extra))
        if self._lift is not None:
            top, rel = self._lift.top(probs, self._named)
            return fields, self._classes[top], lift_score(rel)
        top = int(np.argmax(probs))
        return fields, self._classes[top], float(probs[top])


class BedWriter(_GenomeWriter):
    """BED6+N: transcript span, score = 1000 x the top class's score (lift or probability), probabilities as extra columns."""

    def __init__(self, stream: IO[str], classes: Sequence[str], thresholds: Sequence[float], **kwargs: Any):
        super().__init__(stream, classes, thresholds, **kwargs)
        self.columns = ["chrom", "chromStart", "chromEnd", "name", "score", "strand",
                        "top_class", "labels", "applicability", *self._classes, *self._others]
        self._header = "#" + "\t".join(self.columns) + "\n"

    def write(self, record_id: str, length: int, probs: np.ndarray, extra: Sequence[Any] = (),
              applicability: Optional[Sequence[str]] = None, labels: Optional[Sequence[str]] = ()) -> None:
        fields, top, top_score = self._row(probs, extra)
        flags = flag_text(None if applicability is None else tuple(applicability))
        score = int(round(BED_SCORE_SCALE * top_score))
        values = [f"{float(p):.{PROB_DECIMALS}f}" for p in probs]
        row = [fields["chrom"], str(int(fields["start"]) - 1), str(fields["end"]), record_id, str(score),
               fields["strand"], top, label_text(labels), flags, *values,
               *(cell_text(fields[c]).replace("\t", " ") or "." for c in self._others)]
        self._write("\t".join(row) + "\n")


class Gff3Writer(_GenomeWriter):
    """GFF3: one ``transcript`` feature per record, probabilities and labels as attributes."""

    def __init__(self, stream: IO[str], classes: Sequence[str], thresholds: Sequence[float], **kwargs: Any):
        super().__init__(stream, classes, thresholds, **kwargs)
        self.columns = ["seqid", "source", "type", "start", "end", "score", "strand", "phase", "attributes"]
        self._header = "##gff-version 3\n"

    def write(self, record_id: str, length: int, probs: np.ndarray, extra: Sequence[Any] = (),
              applicability: Optional[Sequence[str]] = None, labels: Optional[Sequence[str]] = ()) -> None:
        fields, top, top_score = self._row(probs, extra)
        flags = flag_text(None if applicability is None else tuple(applicability))
        shown = label_text(None if labels is None else [gff3_escape(x) for x in labels])
        attributes = [("ID", record_id), ("labels", shown), ("top_class", top),
                      ("applicability", flags)]
        attributes += [(f"prob_{name}", f"{float(p):.{PROB_DECIMALS}f}") for name, p in zip(self._classes, probs)]
        attributes += [(c, cell_text(fields[c])) for c in self._others if fields[c] not in ("", None)]
        # labels and applicability are GFF3 multi-value lists: their commas stay unescaped.
        column9 = ";".join(f"{tag}={value if tag in ('labels', 'applicability') else gff3_escape(value)}" for tag, value in attributes)
        row = [gff3_escape(fields["chrom"]), GFF3_SOURCE, GFF3_TYPE, str(fields["start"]), str(fields["end"]),
               f"{top_score:.{PROB_DECIMALS}f}", fields["strand"], ".", column9]
        self._write("\t".join(row) + "\n")
