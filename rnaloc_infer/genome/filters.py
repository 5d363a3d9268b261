"""Select which annotated transcripts to predict: biotype, id lists, one canonical per gene.

Kept apart from parsing so the CLI, the Python API and tests apply the same rules.

Order of application: biotype and id filters first, then ``canonical`` picks one
transcript per gene among the survivors -- so ``--transcript-type protein_coding
--canonical`` gives the canonical protein-coding isoform of each gene.

Canonical choice, per gene, deterministic:
1. a transcript tagged ``MANE_Select`` (RefSeq writes ``MANE Select``), else
   ``Ensembl_canonical``, else ``canonical``;
2. otherwise (or among several equally tagged) the longest spliced transcript;
3. ties broken by the smallest transcript_id (string order).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import FrozenSet, Iterable, List, Optional, Sequence

from .annotation import Transcript, transcripts_by_gene

log = logging.getLogger(__name__)

#: Tags marking the reference isoform of a gene, best first (normalised: lower case, '_').
CANONICAL_TAGS = ("mane_select", "ensembl_canonical", "canonical")


def _unversioned(identifier: str) -> str:
    head, dot, tail = identifier.rpartition(".")
    return head if dot and tail.isdigit() else identifier


def parse_id_list(value: Optional[str]) -> Optional[FrozenSet[str]]:
    """A comma-separated list, or the path of a file with one id per line (# comments).

    None or empty gives None (= no filter). Versions are kept; matching ignores them
    when the requested id has none (``ENST00000456328`` matches ``ENST00000456328.2``).
    """
    if value is None or not value.strip():
        return None
    path = Path(value)
    if path.is_file():
        ids = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.split("#", 1)[0].strip()
                if line:
                    ids.extend(x for x in line.replace(",", " ").split() if x)
        return frozenset(ids)
    return frozenset(x.strip() for x in value.split(",") if x.strip())


def parse_type_list(value: Optional[str]) -> Optional[FrozenSet[str]]:
    """Comma-separated biotypes (``protein_coding,lncRNA``); None/empty = no filter."""
    if value is None or not value.strip():
        return None
    return frozenset(x.strip() for x in value.split(",") if x.strip())


@dataclass(frozen=True)
class TranscriptFilter:
    """What to keep; a None field does not filter."""

    transcript_types: Optional[FrozenSet[str]] = None
    gene_ids: Optional[FrozenSet[str]] = None  # gene_id (versioned or not) or gene_name
    transcript_ids: Optional[FrozenSet[str]] = None
    canonical: bool = False

    @property
    def active(self) -> bool:
        return bool(self.transcript_types or self.gene_ids or self.transcript_ids or self.canonical)


def _matches(identifier: str, wanted: FrozenSet[str]) -> bool:
    return identifier in wanted or _unversioned(identifier) in wanted


def apply_filters(transcripts: Sequence[Transcript], flt: Optional[TranscriptFilter]) -> List[Transcript]:
    """Return the transcripts that pass ``flt`` (input order kept); logs what was dropped."""
    if flt is None or not flt.active:
        return list(transcripts)
    kept = list(transcripts)
    if flt.transcript_types:
        kept = [t for t in kept if t.transcript_type in flt.transcript_types]
        _report_unknown("transcript type", flt.transcript_types, {t.transcript_type for t in transcripts})
    if flt.gene_ids:
        wanted = flt.gene_ids
        kept = [t for t in kept if _matches(t.gene_id, wanted) or t.gene_name in wanted]
        seen = {t.gene_id for t in transcripts} | {_unversioned(t.gene_id) for t in transcripts}
        seen |= {t.gene_name for t in transcripts}
        _report_unknown("gene", wanted, seen)
    if flt.transcript_ids:
        wanted = flt.transcript_ids
        kept = [t for t in kept if _matches(t.transcript_id, wanted)]
        seen = {t.transcript_id for t in transcripts} | {_unversioned(t.transcript_id) for t in transcripts}
        _report_unknown("transcript", wanted, seen)
    if flt.canonical:
        kept = select_canonical(kept)
    log.info("annotation filters kept %d of %d transcripts", len(kept), len(transcripts))
    return kept


def _report_unknown(what: str, wanted: Iterable[str], seen: set) -> None:
    missing = sorted(w for w in wanted if w not in seen)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        log.warning("%d requested %s id(s) not in the annotation: %s", len(missing), what, shown)


def canonical_rank(t: Transcript) -> int:
    """0 for MANE_Select, 1 Ensembl_canonical, 2 canonical, 3 untagged (lower is better)."""
    norm = {tag.strip().lower().replace(" ", "_") for tag in t.tags}
    for rank, tag in enumerate(CANONICAL_TAGS):
        if tag in norm:
            return rank
    return len(CANONICAL_TAGS)


def select_canonical(transcripts: Sequence[Transcript]) -> List[Transcript]:
    """One transcript per gene (rules in the module docstring), in input order of the winners."""
    winners = set()
    for group in transcripts_by_gene(transcripts).values():
        best = min(group, key=lambda t: (canonical_rank(t), -t.length, t.transcript_id))
        winners.add(id(best))
    return [t for t in transcripts if id(t) in winners]
