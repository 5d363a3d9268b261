"""What RNA structure would cost the runtime: local folding vs the whole default model, on the
same records, in one run (docs/RESULTS.md, "What limits these numbers").

Why: structure is the one input no member reads, and the speed rule (the shipped default at
least 0.9x as fast as before) decides whether it could ever be a feature of every record.
This folds the stretches ``experiments/structure_columns.py`` folds (around the start codon
and the 3' UTR, ViennaRNA's RNAplfold, window 100, span 50) of the first ``--records`` valid
records in this process, and runs ``rnaloc-infer`` (the bundled default, whole records) on the
same records as a subprocess, alternating, and prints both as CPU seconds and nt/s of the
records, and the ratio. Needs ``pip install ViennaRNA`` (not a dependency of the project).

    python benchmarks/structure_speed.py --fasta ../shared/data/dm3loc_valid.fa.gz --records 300 --rounds 2
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from rnaloc_infer.fasta import Record, read_fasta

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from forest_extra_features_fold0 import record_regions  # noqa: E402
from structure_columns import record_columns  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fasta", type=Path, default=Path("../shared/data/dm3loc_valid.fa.gz"))
    ap.add_argument("--records", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    records = [r for r in read_fasta(args.fasta, warn_duplicates=False) if isinstance(r, Record)][:args.records]
    codes = [r.codes for r in records]
    nt = sum(len(c) for c in codes)
    regions = record_regions(codes)
    cpu = {"rnaloc-infer": [], "folding": []}
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "records.fa"
        fasta.write_text("".join(f">{r.id}\n{''.join('ACGTN'[min(c, 4)] for c in r.codes)}\n" for r in records))
        for round_ in range(args.rounds):
            for name in (("rnaloc-infer", "folding") if round_ % 2 == 0 else ("folding", "rnaloc-infer")):
                if name == "rnaloc-infer":
                    before = children_cpu()
                    subprocess.run(["rnaloc-infer", str(fasta), "-o", str(Path(tmp) / f"out{round_}.tsv"), "--quiet"],
                                   check=True)
                    cpu[name].append(children_cpu() - before)
                else:
                    before = time.process_time()
                    for i, c in enumerate(codes):
                        record_columns(c, int(regions["utr5_end"][i]), int(regions["utr3_start"][i]))
                    cpu[name].append(time.process_time() - before)
                print(f"round {round_}: {name} {cpu[name][-1]:.1f} CPU s", flush=True)
    runtime, folding = statistics.median(cpu["rnaloc-infer"]), statistics.median(cpu["folding"])
    print(f"{len(codes)} records, {nt:,} nt: rnaloc-infer (default, whole records) {runtime:.1f} CPU s "
          f"({nt / runtime / 1e3:,.0f} knt/s), folding alone {folding:.1f} CPU s ({nt / folding / 1e3:,.1f} knt/s), "
          f"folding / runtime {folding / runtime:.0f}x")


if __name__ == "__main__":
    main()
