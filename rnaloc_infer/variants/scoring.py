"""Score variants: alt transcript minus reference transcript, per class, in batches.

Why chunks: a VCF is read lazily; each chunk's alt transcripts (and the references not
scored yet) go through the runtime's own batching (``batching.predict_stream``) in one
stream, so alts of one transcript, all about the same length, share model calls. Each
reference is scored once and kept while the VCF stays near it (VCFs are position-sorted).

Exactness: the session given must be the fp32 file (``Predictor(..., precision="fp32")``);
D is then the model's own difference, not a reduced-precision twin's.

SNVs (with a model that has explain's numpy weights, on the CPU) go to the exact ISM engine
instead (rnaloc_infer.explain.numpy_ism: a change at position i leaves the state before i
untouched): one reference pass per transcript and the chunk's SNVs of it run from their
positions onwards, transcripts side by side on the workers (docs/VARIANTS.md, "Speed").
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..alphabet import count_ambiguous, encode
from ..applicability import FLAGS
from ..batching import BatchConfig, Scored, predict_stream
from ..errors import InputError
from ..explain import numpy_ism
from ..explain.ism import numpy_model_for
from ..explain.numpy_ism import explain_record, single_threaded_blas
from ..features.registry import variant_features
from ..fasta import Record, RecordError
from ..genome.annotation import Transcript
from ..genome.index import IndexedGenome, reverse_complement
from ..session import ModelSession
from .alleles import (
    BOUNDARY,
    INTRONIC,
    NO_ALT,
    NO_TRANSCRIPT,
    SAME_AS_REF,
    SYMBOLIC,
    TranscriptIndex,
    alt_transcript,
    exon_offset,
    is_sequence_allele,
    minimal_edit,
)

log = logging.getLogger(__name__)

REF_MISMATCH = "REF disagrees with the genome (--on-error skip)"
MISSING_CONTIG = "contig not in the genome (--on-error skip)"
UNSCORABLE = "transcript could not be scored"
ON_ERROR = ("fail", "skip")


class Variant(NamedTuple):
    """One VCF record as the scorer needs it (1-based ``pos``, as in the VCF)."""

    chrom: str
    pos: int
    ref: str
    alts: Tuple[str, ...]
    label: str  # names the record in messages: its ID, else CHROM:POS:REF>ALT
    number: int  # 1-based record number in the VCF


class Entry(NamedTuple):
    """One allele x transcript result; ``delta`` per class (alt - ref), ``flags`` the
    applicability codes of the ref and alt transcripts together (None: model without rules)."""

    allele: str
    transcript: Transcript
    delta: np.ndarray
    flags: Optional[Tuple[str, ...]]


class Annotated(NamedTuple):
    """A record's entries (allele order, then transcript order) and the alleles left out, with why."""

    variant: Variant
    entries: List[Entry]
    left_out: List[Tuple[str, str]]  # (allele, reason)
    payload: object  # what the caller passed with the variant (the pysam record)


@dataclass
class Tally:
    """What the summary reports."""

    records: int = 0
    alleles: int = 0
    entries: int = 0
    references: int = 0
    by_ism: int = 0  # entries scored by explain's ISM engine (SNVs)
    left_out: Counter = field(default_factory=Counter)


class _Job(NamedTuple):
    slot: int  # index of the record in the chunk
    allele: str
    transcript: Transcript
    sequence: str
    snv: Optional[Tuple[int, int]] = None  # (position in the transcript, base code 0..3) of a substitution


def _merge_flags(a: Optional[Tuple[str, ...]], b: Optional[Tuple[str, ...]]) -> Optional[Tuple[str, ...]]:
    if a is None and b is None:
        return None
    both = set(a or ()) | set(b or ())
    return tuple(f for f in FLAGS if f in both) + tuple(sorted(both - set(FLAGS)))


def _snv(t: Transcript, offset: int, edit) -> Optional[Tuple[int, int]]:
    """(transcript position, base code) of a one-base substitution by A/C/G/T, else None."""
    if edit.end - edit.start != 1 or len(edit.inserted) != 1 or edit.inserted.upper() not in "ACGT":
        return None
    if t.strand == "-":
        return t.length - 1 - offset, "ACGT".index(reverse_complement(edit.inserted).upper())
    return offset, "ACGT".index(edit.inserted.upper())


FLAG_ROWS = 256  # alt transcripts checked together (their codes: rows x length bytes)


def _snv_flags(rules, codes: np.ndarray, ref_seq: str, positions: np.ndarray, bases: np.ndarray,
               alt_sequences: Sequence[str]) -> List[Optional[Tuple[str, ...]]]:
    """Each SNV's flags: the reference's and its alt transcript's together (None: no rules).

    Why ``check_many``: one longest-ORF search per alt transcript cost ~250 us of numpy calls,
    as much as scoring the SNV; vectorised over the alts (in blocks of FLAG_ROWS rows) it is
    a few us each, with the same flags."""
    if rules is None:
        return [None] * len(positions)
    ref_flags = rules.check(codes, count_ambiguous(ref_seq))
    flags: List[Optional[Tuple[str, ...]]] = []
    for a in range(0, len(positions), FLAG_ROWS):
        rows = np.arange(a, min(a + FLAG_ROWS, len(positions)))
        alts = np.repeat(codes[None, :], len(rows), axis=0)
        alts[np.arange(len(rows)), positions[rows]] = bases[rows]
        found = rules.check_many(list(alts), [count_ambiguous(alt_sequences[r]) for r in rows])
        flags.extend(_merge_flags(ref_flags, f) for f in found)
    return flags


class VariantScorer:
    """Annotate variants with D = p(alt transcript) - p(ref transcript) for every overlapping transcript."""

    def __init__(self, genome: IndexedGenome, transcripts: Sequence[Transcript], session: ModelSession, *,
                 config: BatchConfig = BatchConfig(), workers: int = 1, on_error: str = "fail", source: str = "VCF",
                 progress: Optional[Callable[[int, int], None]] = None, chunk_nt: int = 8_000_000,
                 chunk_records: int = 2_000, cache_size: int = 4_096, ism: bool = True) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.genome = genome
        self.index = TranscriptIndex(transcripts)
        self.session = session
        self.config = config
        self.workers = workers
        self.on_error = on_error
        self.source = source
        self.progress = progress
        self.chunk_nt = chunk_nt
        self.chunk_records = chunk_records
        self.cache_size = cache_size
        self.tally = Tally()
        # explain's exact numpy engine for SNVs (None: the model has no companion, or not CPU fp32)
        self._ism = numpy_model_for(session) if ism else None
        self._refs: Dict[str, Tuple[np.ndarray, Optional[Tuple[str, ...]]]] = {}

    # ------------------------------------------------------------------ per record
    def _problem(self, v: Variant, problem: str, reason: str) -> Optional[str]:
        """Raise for ``--on-error fail``; else the reason to count."""
        if self.on_error == "fail":
            raise InputError(self.source, problem, v.label, v.number)
        log.warning("skipped %s: record %r (#%d): %s", self.source, v.label, v.number, problem)
        return reason

    def _check(self, v: Variant) -> Optional[str]:
        """Contig and REF against the genome; None when fine, else the reason to leave it out."""
        size = self.genome.lengths.get(v.chrom)
        if size is None:
            hint = self.genome.suggest_contig(v.chrom)
            problem = f"contig {v.chrom!r} is not in genome {self.genome.path}"
            if hint:  # a naming mismatch hits every record: always an error, never skipped one by one
                raise InputError(self.source, problem + f" (the genome has {hint!r}: the VCF and the genome use "
                                 "different contig naming, e.g. chr1 vs 1; rename the VCF's contigs with "
                                 "bcftools annotate --rename-chrs)", v.label, v.number)
            return self._problem(v, problem, MISSING_CONTIG)
        end = v.pos - 1 + len(v.ref)
        if v.pos < 1 or end > size:
            return self._problem(v, f"position {v.chrom}:{v.pos} is outside the contig (length {size:,}); "
                                    "wrong genome build?", REF_MISMATCH)
        found = self.genome.fetch(v.chrom, v.pos - 1, end)
        if found.upper() != v.ref.upper():
            shown = found if len(found) <= 20 else found[:20] + "..."
            return self._problem(v, f"REF {v.ref[:20]} disagrees with the genome ({shown}) at {v.chrom}:{v.pos}; "
                                    "wrong genome build?", REF_MISMATCH)
        return None

    def _jobs(self, slot: int, v: Variant, plus: Dict[str, str]) -> Tuple[List[_Job], List[Tuple[str, str]]]:
        jobs: List[_Job] = []
        left_out: List[Tuple[str, str]] = []
        if not v.alts:
            return jobs, [(".", NO_ALT)]
        for alt in v.alts:
            if not is_sequence_allele(alt) or not is_sequence_allele(v.ref):
                left_out.append((alt or ".", SYMBOLIC))
                continue
            if alt.upper() == v.ref.upper():
                left_out.append((alt, SAME_AS_REF))
                continue
            edit = minimal_edit(v.pos - 1, v.ref, alt)
            reasons = []
            before = len(jobs)
            for t in self.index.overlapping(v.chrom, edit.start, edit.end):
                offset, reason = exon_offset(t, edit)
                if offset is None:
                    reasons.append(reason)
                    continue
                if t.transcript_id not in plus:
                    plus[t.transcript_id] = self._plus(t)
                jobs.append(_Job(slot, alt, t, alt_transcript(plus[t.transcript_id], t, offset, edit), _snv(t, offset, edit)))
            if len(jobs) == before:
                left_out.append((alt, BOUNDARY if BOUNDARY in reasons else INTRONIC if reasons else NO_TRANSCRIPT))
        return jobs, left_out

    def _score_snvs(self, jobs: List[_Job], plus: Dict[str, str]) -> Dict[int, Entry]:
        """Entries for the SNV jobs by explain's exact ISM engine, one record per transcript.

        Why transcripts side by side on ``workers`` threads: a VCF gives a transcript tens of
        SNVs, not the thousands of explain's all-substitution ISM, so one transcript's rows
        are too few to split over the cores (explain splits blocks of BLOCK_ROWS); its features,
        the reference pass and the variants' tails run on one thread, the next transcript on
        the other (numpy releases the GIL in its loops). A transcript with more SNVs than a
        block (a saturation-mutagenesis VCF) runs as explain runs it: its blocks of rows on the
        workers. BLAS stays single-threaded throughout."""
        groups: Dict[str, List[int]] = {}
        for i, j in enumerate(jobs):
            if j.snv is not None:
                groups.setdefault(j.transcript.transcript_id, []).append(i)
        for members in groups.values():
            # ascending positions, as explain produces them (its engine and features assume that order)
            members.sort(key=lambda i: jobs[i].snv)  # type: ignore[arg-type,return-value]
        done: Dict[int, Entry] = {}
        pool = ThreadPoolExecutor(self.workers) if self.workers > 1 and groups else None
        try:
            with single_threaded_blas():
                side_by_side = {tid: pool.submit(self._snv_group, jobs, plus, members)
                                for tid, members in groups.items()
                                if pool is not None and len(members) <= numpy_ism.BLOCK_ROWS}
                for tid, members in groups.items():
                    found = side_by_side.get(tid)
                    entries = found.result() if found is not None else self._snv_group(jobs, plus, members, pool)
                    done.update(zip(members, entries))
                    if self.progress is not None:
                        self.progress(len(members), len(members) * entries[0].transcript.length)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        return done

    def _snv_group(self, jobs: List[_Job], plus: Dict[str, str], members: List[int],
                   pool: Optional[ThreadPoolExecutor] = None) -> List[Entry]:
        """The entries of one transcript's SNV jobs (``members``, by ascending position);
        ``pool``: threads for its blocks of rows (None: this thread)."""
        t = jobs[members[0]].transcript
        tid = t.transcript_id
        ref_seq = reverse_complement(plus[tid]) if t.strand == "-" else plus[tid]
        codes = encode(ref_seq)
        positions = np.array([jobs[i].snv[0] for i in members], dtype=np.int64)  # type: ignore[index]
        bases = np.array([jobs[i].snv[1] for i in members], dtype=np.uint8)  # type: ignore[index]
        features = self.session.record_features([codes])
        var_features = None if features is None else variant_features(codes, positions, bases, self.session.info.features)
        ref_p, var_p, _ = explain_record(self._ism, codes, positions, bases, features, var_features, pool)
        flags = _snv_flags(self.session.info.applicability, codes, ref_seq, positions, bases,
                           [jobs[i].sequence for i in members])
        delta = var_p.astype(np.float64) - ref_p.astype(np.float64)
        return [Entry(jobs[i].allele, t, delta[k], flags[k]) for k, i in enumerate(members)]

    def _plus(self, t: Transcript) -> str:
        c = t.coords
        span = self.genome.fetch(t.chrom, c[0], c[-1])
        return "".join(span[c[i] - c[0]:c[i + 1] - c[0]] for i in range(0, len(c), 2))

    # ------------------------------------------------------------------ per chunk
    def _score(self, named: List[Tuple[str, str]]) -> Dict[str, Optional[Scored]]:
        """Probabilities for (key, sequence) pairs through the runtime's batching; None when
        a sequence cannot be scored (empty, e.g. a deletion of a whole one-exon transcript)."""
        out: Dict[str, Optional[Scored]] = {}

        def records() -> Iterator[object]:
            for number, (key, seq) in enumerate(named, 1):
                try:
                    codes = encode(seq)
                except ValueError as exc:
                    yield RecordError("<variants>", number, key, str(exc))
                    continue
                if codes.size == 0:
                    yield RecordError("<variants>", number, key, "empty sequence")
                    continue
                yield Record(key, key, codes, "<variants>", number, count_ambiguous(seq))

        for item in predict_stream(records(), self.session, self.config, on_error="skip", progress=self.progress,
                                   workers=self.workers):
            out[item.id] = item if isinstance(item, Scored) else None
        return out

    def _flush(self, results: List[Annotated], jobs: List[_Job], plus: Dict[str, str]) -> List[Annotated]:
        """Score one chunk's alts (and the references not cached) and fill in the entries."""
        by_ism = self._score_snvs(jobs, plus) if self._ism is not None else {}
        streamed = [j for i, j in enumerate(jobs) if i not in by_ism]
        needed = {j.transcript.transcript_id: j.transcript for j in streamed if j.transcript.transcript_id not in self._refs}
        named = [(f"ref\t{tid}", reverse_complement(plus[tid]) if t.strand == "-" else plus[tid]) for tid, t in needed.items()]
        named += [(f"alt\t{i}", j.sequence) for i, j in enumerate(jobs) if i not in by_ism]
        scored = self._score(named) if named else {}
        for tid in needed:
            s = scored.get(f"ref\t{tid}")
            self._refs[tid] = (s.probs.astype(np.float64), s.applicability) if s is not None else None  # type: ignore[assignment]
        self.tally.references += len(needed)
        for i, j in enumerate(jobs):
            if i in by_ism:
                results[j.slot].entries.append(by_ism[i])
                continue
            ref = self._refs.get(j.transcript.transcript_id)
            alt = scored.get(f"alt\t{i}")
            if ref is None or alt is None:
                results[j.slot].left_out.append((j.allele, UNSCORABLE))
                continue
            delta = alt.probs.astype(np.float64) - ref[0]
            results[j.slot].entries.append(Entry(j.allele, j.transcript, delta, _merge_flags(ref[1], alt.applicability)))
        self._evict({j.transcript.transcript_id for j in streamed})
        self.tally.by_ism += len(by_ism)
        for r in results:
            self.tally.records += 1
            self.tally.alleles += len(r.variant.alts)
            done = {e.allele for e in r.entries}
            self.tally.entries += len(r.entries)
            for allele, reason in r.left_out:
                if allele not in done:
                    self.tally.left_out[reason] += 1
        return results

    def _evict(self, used: set) -> None:
        if len(self._refs) > self.cache_size:
            for tid in [t for t in self._refs if t not in used]:
                del self._refs[tid]

    def annotate(self, items: Iterable[Tuple[Variant, object]]) -> Iterator[Annotated]:
        """Annotated records in input order, lazily: a chunk is scored when its alt
        transcripts reach ``chunk_nt`` nucleotides or it holds ``chunk_records`` records."""
        results: List[Annotated] = []
        jobs: List[_Job] = []
        plus: Dict[str, str] = {}
        nt = 0
        for v, payload in items:
            reason = self._check(v)
            if reason is not None:
                results.append(Annotated(v, [], [(a, reason) for a in (v.alts or (".",))], payload))
            else:
                found, left_out = self._jobs(len(results), v, plus)
                jobs.extend(found)
                nt += sum(len(j.sequence) for j in found)
                results.append(Annotated(v, [], left_out, payload))
            if len(results) >= self.chunk_records or nt >= self.chunk_nt:
                yield from self._flush(results, jobs, plus)
                results, jobs, plus, nt = [], [], {}, 0
        if results:
            yield from self._flush(results, jobs, plus)
