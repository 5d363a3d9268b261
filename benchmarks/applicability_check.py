"""How often the applicability flags fire: valid split, short fragments of it, the issue's examples.

Reads the rules from a model's metadata (``rnaloc.applicability``), so it checks what the
runtime will flag. Fragments: one piece of 50-150 nt (uniform length and start, seed 0)
cut from every validation mRNA.

    python benchmarks/applicability_check.py --data-dir ../shared/data \
        --out benchmarks/results/applicability_check.tsv
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np

from rnaloc_infer.alphabet import count_ambiguous, encode
from rnaloc_infer.applicability import flag_text
from rnaloc_infer.fasta import Record, read_fasta
from rnaloc_infer.session import ModelSession

EXAMPLES = {"one_nt": "A", "ten_n": "N" * 10, "peptide": "MKRSHWCDAVG"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", default="default", help="bundled name or .onnx path")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from rnaloc_infer.bundled import resolve_model

    rules = ModelSession(resolve_model(args.model), device="cpu").info.applicability
    if rules is None:
        raise SystemExit(f"{args.model} carries no applicability rules")
    rng = np.random.default_rng(0)
    sets = {"valid": collections.Counter(), "valid_fragments_50_150": collections.Counter()}
    for item in read_fasta(args.data_dir / "dm3loc_valid.fa.gz", warn_duplicates=False):
        assert isinstance(item, Record)
        sets["valid"][flag_text(rules.check(item.codes, item.ambiguous))] += 1
        size = int(rng.integers(50, 151))
        start = int(rng.integers(0, item.length - size + 1))
        sets["valid_fragments_50_150"][flag_text(rules.check(item.codes[start:start + size]))] += 1
    rows = ["set\trecords\tflagged\tflagged_fraction\tflags"]
    for name, counts in sets.items():
        total = sum(counts.values())
        flagged = total - counts.get("ok", 0)
        detail = "; ".join(f"{k}: {v}" for k, v in counts.most_common())
        rows.append(f"{name}\t{total}\t{flagged}\t{flagged / total:.4f}\t{detail}")
    for name, seq in EXAMPLES.items():
        flags = flag_text(rules.check(encode(seq), count_ambiguous(seq)))
        rows.append(f"example_{name}\t1\t{int(flags != 'ok')}\t{float(flags != 'ok'):.4f}\t{flags}")
    text = "\n".join(rows) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
