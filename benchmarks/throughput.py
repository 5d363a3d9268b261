"""Throughput (nt/s) of every way to run the model, side by side in one run (issue 8).

    python benchmarks/throughput.py            # full: ~9 min on a shared 2-core box
    python benchmarks/throughput.py --quick    # smoke run: ~35 s

Variants, all on the same model (the bundled/--model ONNX file and its checkpoint; with no
checkpoint, the ONNX metadata's hparams with random weights: speed does not depend on them):

* ``torch_reference``: PyTorch eager with the per-timestep Python-loop fo-pooling
  (``fo_pool_reference`` patched into the QRNN layers);
* ``torch_fast``: PyTorch eager with the fast (TorchScript-loop) fo-pooling;
* ``torchscript``: the scripted export (``script_model``);
* ``ort_session``: the bare ONNX Runtime session (``ModelSession.run``) on pre-encoded,
  length-sorted, pre-padded batches -- exactly the calls the runtime makes (same windows,
  ``plan_batches``, ``pad_batch``, chunked calls carrying state for long records);
* ``cli``: the full ``rnaloc-infer`` command in a child process (gzip FASTA in, TSV out),
  wall clock including interpreter start and model load; peak RSS from ``os.wait4``.

Why it is measured this way: the box is shared (a training job runs on the same 2 cores),
so absolute figures drift by tens of percent within minutes. In-process variants are
therefore interleaved at a fine grain: an input's calls are cut into slices and every
variant runs slice k (in rotating order) before any variant runs slice k+1; nt/s is total
nt / total wall time and the ratio to ``ort_session`` is the median over slices of the
per-slice time ratio. The CLI is run whole (start-up is part of what it costs), alternated
with whole-input bare-session runs whose median is its yardstick.

Inputs: the validation FASTA, synthetic 300-nt records, one synthetic long record (the slow
reference loop there is timed on a 1-Mnt piece and extrapolated, marked ``extrapolated``),
a length sweep for the plot, and FASTA parsing alone. Raw rows go to a TSV.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from rnaloc_infer.alphabet import pad_batch
from rnaloc_infer.batching import BatchConfig, plan_batches
from rnaloc_infer.bundled import resolve_model
from rnaloc_infer.fasta import Record, read_fasta
from rnaloc_infer.session import ModelSession

REPO = Path(__file__).resolve().parent.parent
VALID = Path("/work/shared/data/dm3loc_valid.fa.gz")
CHECKPOINT = REPO / "runs/qrnn/best.pt"
SWEEP_LENGTHS = (100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000)
LINE = 60


# ----------------------------------------------------------------------------- calls
@dataclass
class Call:
    """One model call as the runtime makes it; ``carry`` = continue the previous call's state."""

    tokens: np.ndarray
    lengths: np.ndarray
    carry: bool = False
    # whole records whose per-record features (models that take them) this call computes;
    # None on a continuation chunk, which reuses the first chunk's
    records: Optional[List[np.ndarray]] = None

    @property
    def nt(self) -> int:
        return int(self.lengths.sum())

    @property
    def padded(self) -> int:
        return int(self.tokens.size)


def _window_calls(codes: List[np.ndarray], config: BatchConfig, step: int) -> Iterator[Call]:
    """The calls ``batching._score_window`` makes for one window (short batches, then long chunks)."""
    short = [c for c in codes if len(c) <= config.chunk_nt]
    for batch in plan_batches([len(c) for c in short], config.batch_nt):
        records = [short[i] for i in batch]
        tokens, lengths = pad_batch(records)
        yield Call(tokens, lengths, records=records)
    for c in (c for c in codes if len(c) > config.chunk_nt):
        for start in range(0, len(c), step):
            piece = np.ascontiguousarray(c[start : start + step])[None, :]
            yield Call(piece, np.array([piece.shape[1]], dtype=np.int64), carry=start > 0,
                       records=None if start > 0 else [c])


def runtime_calls(codes: Sequence[np.ndarray], config: BatchConfig, stride: int) -> List[Call]:
    """Mimic ``predict_stream``'s look-ahead windows so the bare session sees the runtime's batches."""
    step = max(stride, (config.chunk_nt // stride) * stride)
    calls: List[Call] = []
    window: List[np.ndarray] = []
    window_nt = 0
    for c in codes:
        window.append(c)
        window_nt += len(c)
        if len(window) >= config.window_records or window_nt >= config.window_nt:
            calls.extend(_window_calls(window, config, step))
            window, window_nt = [], 0
    if window:
        calls.extend(_window_calls(window, config, step))
    return calls


def slices(calls: List[Call], count: int) -> List[List[Call]]:
    """Cut calls into ~equal-nt contiguous slices (a chunk chain may span two; runners keep state)."""
    total = sum(c.nt for c in calls)
    out: List[List[Call]] = [[]]
    done = 0
    for c in calls:
        if done >= total * len(out) / count and out[-1] and len(out) < count:
            out.append([])
        out[-1].append(c)
        done += c.nt
    return out


# ----------------------------------------------------------------------------- runners
class Runner:
    """A model variant; ``call`` runs one Call and keeps the carried state for the next."""

    name = "runner"

    def __init__(self) -> None:
        self.states = None
        self.features = None

    def features_for(self, call: Call, compute: Callable[[List[np.ndarray]], Optional[np.ndarray]]) -> Optional[np.ndarray]:
        """Per-record features, timed with the call as the runtime computes them."""
        if call.records is not None:
            self.features = compute(call.records)
        return self.features

    def call(self, call: Call) -> None:
        raise NotImplementedError


class OrtRunner(Runner):
    name = "ort_session"

    def __init__(self, session: ModelSession):
        super().__init__()
        self.session = session

    def call(self, call: Call) -> None:
        features = self.features_for(call, self.session.record_features)
        _, self.states = self.session.run(call.tokens, call.lengths, self.states if call.carry else None, features)


class TorchRunner(Runner):
    """Eager or scripted torch module with the ``(tokens, lengths, states)`` signature."""

    def __init__(self, name: str, module, zero_states: Callable[[int], list], reference_loop: bool = False,
                 compute_features: Callable[[List[np.ndarray]], Optional[np.ndarray]] = lambda records: None):
        super().__init__()
        self.compute_features = compute_features
        self.name = name
        self.module = module
        self.zero_states = zero_states
        self.reference_loop = reference_loop

    def call(self, call: Call) -> None:
        import torch

        tokens = torch.from_numpy(call.tokens)
        lengths = torch.from_numpy(call.lengths)
        states = self.states if call.carry else self.zero_states(tokens.shape[0])
        features = self.features_for(call, self.compute_features)
        extra = [] if features is None else [torch.from_numpy(features)]
        with torch.inference_mode(), _fo_pool_patched(self.reference_loop):
            out, self.states = self.module(tokens, lengths, states, *extra)
            torch.sigmoid(out)


@contextlib.contextmanager
def _fo_pool_patched(reference: bool) -> Iterator[None]:
    """Swap the QRNN layers' fo_pool for the per-timestep Python loop (the slow yardstick)."""
    if not reference:
        yield
        return
    from rnaloc_infer.training import layers
    from rnaloc_infer.training.fo_pooling import fo_pool_reference

    original = layers.fo_pool
    layers.fo_pool = fo_pool_reference
    try:
        yield
    finally:
        layers.fo_pool = original


def load_torch_model(onnx_path: Path, checkpoint: Optional[Path]):
    """The checkpoint's model, else the ONNX metadata's architecture with random weights."""
    from rnaloc_infer.training.checkpoint import load_checkpoint, model_from_config

    if checkpoint is not None and checkpoint.is_file():
        model, _ = load_checkpoint(checkpoint)
        return model, f"checkpoint {checkpoint}"
    from rnaloc_infer.modelfile.metadata import read_metadata

    meta = read_metadata(onnx_path)
    model = model_from_config(json.loads(meta["rnaloc.hparams"])).eval()
    return model, "random weights, architecture from rnaloc.hparams"


def make_runners(session: ModelSession, model, want: Sequence[str]) -> Dict[str, Runner]:
    """Build the in-process variants named in ``want``."""
    from rnaloc_infer.export.torchscript_export import script_model

    zero = lambda batch: model.zero_states(batch)  # noqa: E731
    features = session.record_features  # the same numpy features the runtime computes
    runners: Dict[str, Runner] = {"ort_session": OrtRunner(session)}
    if "torch_fast" in want:
        runners["torch_fast"] = TorchRunner("torch_fast", model, zero, compute_features=features)
    if "torch_reference" in want:
        runners["torch_reference"] = TorchRunner("torch_reference", model, zero, reference_loop=True,
                                                 compute_features=features)
    if "torchscript" in want:
        runners["torchscript"] = TorchRunner("torchscript", script_model(model), zero, compute_features=features)
    return {k: runners[k] for k in want if k in runners}


def settings_runners(path: Path) -> Dict[str, Runner]:
    """Bare sessions under different ORT settings: the old default against the tuned one."""
    import onnxruntime as ort

    from rnaloc_infer.session import session_options

    def with_options(options) -> OrtRunner:
        session = ModelSession(path, device="cpu")
        session._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        return OrtRunner(session)

    before = ort.SessionOptions()  # what ModelSession(intra_op_threads=None) used before issue 8
    before.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    before.log_severity_level = 3
    runners: Dict[str, Runner] = {"ort_session": with_options(session_options(None))}  # tuned default
    runners["ort_before_default"] = with_options(before)
    runners["ort_2threads_nospin"] = with_options(session_options(2))
    for name, runner in runners.items():
        runner.name = name
    return runners


# ----------------------------------------------------------------------------- timing
@dataclass
class Timing:
    wall: List[float] = field(default_factory=list)
    cpu: List[float] = field(default_factory=list)
    nt: List[int] = field(default_factory=list)


def time_calls(runner: Runner, calls: List[Call]) -> Tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for c in calls:
        runner.call(c)
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(runners: Dict[str, Runner], parts: List[List[Call]]) -> Dict[str, Timing]:
    """Every variant runs slice k (rotating order) before any runs slice k+1."""
    names = list(runners)
    result = {n: Timing() for n in names}
    for k, part in enumerate(parts):
        nt = sum(c.nt for c in part)
        for n in names[k % len(names):] + names[: k % len(names)]:
            wall, cpu = time_calls(runners[n], part)
            result[n].wall.append(wall)
            result[n].cpu.append(cpu)
            result[n].nt.append(nt)
    return result


def run_cli(model: str, fasta: Path, out: Path, threads: Optional[int]) -> Tuple[float, float, float]:
    """Whole command in a child: (wall s, child CPU s, peak RSS MiB).

    Peak RSS comes from ``/usr/bin/time -f %M`` when present: a child forked from this
    process (torch loaded, hundreds of MB) would inherit our ru_maxrss across exec, while
    the child of /usr/bin/time starts from that small program's.
    """
    cmd = [sys.executable, "-m", "rnaloc_infer.cli.predict", "--model", model, "-q", "-o", str(out), str(fasta)]
    if threads:
        cmd[4:4] = ["--threads", str(threads)]
    timer = Path("/usr/bin/time")
    if timer.exists():
        cmd = [str(timer), "-f", "RSS_KB=%M"] + cmd
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"rnaloc-infer failed on {fasta}: {stderr[-500:]}")
    rss_kb = [int(line.split("=")[1]) for line in stderr.splitlines() if line.startswith("RSS_KB=")]
    return wall, usage.ru_utime + usage.ru_stime, (rss_kb[-1] if rss_kb else usage.ru_maxrss) / 1024


# ----------------------------------------------------------------------------- inputs
def random_codes(rng: np.random.Generator, length: int) -> np.ndarray:
    return rng.integers(0, 4, length, dtype=np.uint8)


def write_fasta_gz(path: Path, codes: Sequence[np.ndarray], prefix: str) -> None:
    """gzip FASTA (60-column lines) of the given codes, fast compression level."""
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        for i, c in enumerate(codes):
            seq = letters[c].tobytes()
            fh.write(b">%s%d\n" % (prefix.encode(), i) + b"\n".join(seq[j : j + LINE] for j in range(0, len(seq), LINE)) + b"\n")


def read_codes(path: Path, limit: Optional[int] = None) -> List[np.ndarray]:
    out = []
    for r in read_fasta(path, warn_duplicates=False):
        if isinstance(r, Record):
            out.append(r.codes)
            if limit is not None and len(out) >= limit:
                break
    return out


def padding_waste(calls: List[Call]) -> float:
    """Padded positions / real positions over the batched (non-chunked) calls."""
    real = sum(c.nt for c in calls)
    return (sum(c.padded for c in calls) - real) / max(real, 1)


# ----------------------------------------------------------------------------- cases
Row = Dict[str, object]


def row(case: str, variant: str, nt: int, wall: float, cpu: float, **extra) -> Row:
    base: Row = {"case": case, "variant": variant, "nt": nt, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                 "nt_per_s": round(nt / wall) if wall > 0 else 0,
                 "nt_per_cpu_s": round(nt / cpu) if cpu > 0 else 0, "ratio_vs_ort": "", "ratio_cpu_vs_ort": "", "peak_rss_mib": "", "note": ""}
    base.update(extra)
    return base


def summarise(case: str, timings: Dict[str, Timing], notes: Dict[str, str]) -> List[Row]:
    """Total nt / total wall per variant; ratio = median per-slice (ORT time / variant time) = speed ratio."""
    ort = timings["ort_session"]
    rows = []
    for name, t in timings.items():
        ratios = [o / w for o, w in zip(ort.wall, t.wall)]
        cpu_ratios = [o / max(c, 1e-9) for o, c in zip(ort.cpu, t.cpu)]
        rows.append(row(case, name, sum(t.nt), sum(t.wall), sum(t.cpu), ratio_vs_ort=round(statistics.median(ratios), 3),
                        ratio_cpu_vs_ort=round(statistics.median(cpu_ratios), 3),
                        note=notes.get(name, "") + f" slices={len(t.wall)}"))
    return rows


def bench_case(case: str, calls: List[Call], runners: Dict[str, Runner], n_slices: int,
               subset: Dict[str, float], print_fn: Callable[[str], None]) -> List[Row]:
    """Interleave all in-process variants; slow ones run only on a leading fraction of slices."""
    parts = slices(calls, n_slices)
    rows: List[Row] = []
    full = {n: r for n, r in runners.items() if subset.get(n, 1.0) >= 1.0}
    timings = interleaved(full, parts)
    for name, fraction in subset.items():
        if name not in runners or fraction >= 1.0:
            continue
        k = max(1, round(len(parts) * fraction))
        sub = interleaved({"ort_session": runners["ort_session"], name: runners[name]}, parts[:k])
        timings[name] = sub[name]
        timings[name + "@ort"] = sub["ort_session"]
    notes = {n: f"subset {subset[n]:.0%} of slices" for n in subset if subset[n] < 1.0}
    for r in summarise(case, {k: v for k, v in timings.items() if not k.endswith("@ort")}, notes):
        name = str(r["variant"])
        if name + "@ort" in timings:  # ratio against the ORT runs on the same subset
            ort = timings[name + "@ort"]
            r["ratio_vs_ort"] = round(statistics.median(o / w for o, w in zip(ort.wall, timings[name].wall)), 3)
            r["ratio_cpu_vs_ort"] = round(statistics.median(o / max(c, 1e-9) for o, c in zip(ort.cpu, timings[name].cpu)), 3)
        rows.append(r)
        print_fn(_fmt(r))
    return rows


def bench_cli(case: str, fasta: Path, calls: List[Call], session: ModelSession, model: str,
              rounds: int, threads: Optional[int], folder: Path, print_fn) -> List[Row]:
    """Alternate whole-input bare-session runs and whole CLI runs; medians of each."""
    ort = OrtRunner(session)
    nt = sum(c.nt for c in calls)
    bare, cli = [], []
    for k in range(rounds):
        pair = [lambda: bare.append(time_calls(ort, calls)), lambda: cli.append(run_cli(model, fasta, folder / "out.tsv", threads))]
        for fn in (pair if k % 2 == 0 else pair[::-1]):
            fn()
    b_wall = statistics.median(w for w, _ in bare)
    c_wall = statistics.median(w for w, _, _ in cli)
    b_cpu = statistics.median(c for _, c in bare)
    c_cpu = statistics.median(c for _, c, _ in cli)
    rows = [
        row(case, "ort_session_whole", nt, b_wall, b_cpu, ratio_vs_ort=1.0, ratio_cpu_vs_ort=1.0, note=f"median of {rounds}"),
        row(case, "cli", nt, c_wall, c_cpu, ratio_vs_ort=round(b_wall / c_wall, 3), ratio_cpu_vs_ort=round(b_cpu / c_cpu, 3),
            peak_rss_mib=round(max(r for _, _, r in cli)), note=f"median of {rounds}; wall incl. start-up, gzip read, TSV write"),
    ]
    for r in rows:
        print_fn(_fmt(r))
    return rows


def bench_parsing(case: str, fasta: Path, repeats: int, print_fn) -> Row:
    """read_fasta alone (parse + encode), best of ``repeats``; MB/s of uncompressed text."""
    text_bytes = 0
    with gzip.open(fasta, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            text_bytes += len(chunk)
    best_wall, best_cpu, nt = float("inf"), 0.0, 0
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        nt = sum(r.length for r in read_fasta(fasta, warn_duplicates=False) if isinstance(r, Record))
        w = time.perf_counter() - wall
        if w < best_wall:
            best_wall, best_cpu = w, time.process_time() - cpu
    r = row(case, "fasta_parse_encode", nt, best_wall, best_cpu, note=f"gzip input; {text_bytes / best_wall / 1e6:.1f} MB/s of FASTA text; best of {repeats}")
    print_fn(_fmt(r))
    return r


def bench_sweep(runners: Dict[str, Runner], total_nt: int, lengths: Sequence[int], config: BatchConfig,
                stride: int, rng: np.random.Generator, n_slices: int, print_fn) -> List[Row]:
    """nt/s against record length for ORT and the fast torch path (the plot's data)."""
    rows = []
    pick = {k: runners[k] for k in ("ort_session", "torch_fast") if k in runners}
    for length in lengths:
        count = max(1, total_nt // length)
        calls = runtime_calls([random_codes(rng, length) for _ in range(count)], config, stride)
        timings = interleaved(pick, slices(calls, min(n_slices, len(calls))))
        for r in summarise(f"sweep_{length}", timings, {}):
            r["note"] += f" records={count}x{length}"
            rows.append(r)
            print_fn(_fmt(r))
    return rows


def plot_sweep(rows: List[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for variant, label in (("ort_session", "ONNX Runtime CPU (bare session)"), ("torch_fast", "PyTorch eager, fast fo-pooling")):
        pts = sorted((int(str(r["case"]).split("_")[1]), r["nt_per_s"]) for r in rows if r["variant"] == variant)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("record length (nt)")
    ax.set_ylabel("throughput (nt/s)")
    ax.set_title("bundled QRNN model, shared 2-core CPU, default threads")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(r: Row) -> str:
    return (f"{r['case']:<18} {r['variant']:<20} {r['nt']:>12,} nt {r['wall_s']:>9.2f} s wall {r['cpu_s']:>9.2f} s cpu "
            f"{r['nt_per_s']:>12,} nt/s {r['nt_per_cpu_s']:>12,} nt/cpu-s ratio {r['ratio_vs_ort']!s:<6} cpu-ratio {r['ratio_cpu_vs_ort']!s:<6} rss {r['peak_rss_mib']!s:<5} {r['note']}")


def write_tsv(rows: List[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0].keys())
    with open(path, "w") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join(str(r.get(c, "")) for c in cols) + "\n")


# ----------------------------------------------------------------------------- main
@dataclass(frozen=True)
class Plan:
    valid_records: Optional[int]
    short_records: int
    long_nt: int
    reference_piece_nt: int
    sweep_total_nt: int
    sweep_lengths: Tuple[int, ...]
    slices: int
    cli_rounds: int
    short_torch_fraction: float
    long_torch_fraction: float


FULL = Plan(None, 100_000, 20_000_000, 1_000_000, 1_000_000, SWEEP_LENGTHS, 6, 3, 0.25, 0.25)
QUICK = Plan(150, 3_000, 1_000_000, 200_000, 100_000, SWEEP_LENGTHS[:7], 3, 1, 1.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (< 2 min): small inputs, one CLI round")
    parser.add_argument("--model", default="default", help="bundled model name or .onnx path (default: whatever is bundled)")
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT, help="PyTorch checkpoint of the same model")
    parser.add_argument("--valid", type=Path, default=VALID)
    parser.add_argument("--threads", type=int, default=None, help="ORT threads (default: the runtime's default)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch intra-op threads; 1 by default: torch's own default (2 on 2 cores) was slower here, see docs/PERFORMANCE.md")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/throughput.tsv")
    parser.add_argument("--plot", type=Path, default=REPO / "docs/throughput_vs_length.png")
    parser.add_argument("--skip", default="", help="comma list of cases to skip: valid,short,long,settings,sweep,parse")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    skip = set(filter(None, args.skip.split(",")))

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    model_path = resolve_model(args.model)
    session = ModelSession(model_path, device="cpu", intra_op_threads=args.threads)
    model, source = load_torch_model(model_path, args.checkpoint)
    stride = session.info.stride
    config = BatchConfig()
    print(f"model {model_path} ({session.info.kind}, stride {stride}); torch model: {source}; torch threads {torch.get_num_threads()}; "
          f"ORT threads {args.threads or 'runtime default'}; mode {'quick' if args.quick else 'full'}", flush=True)
    runners = make_runners(session, model, ["ort_session", "torch_fast", "torchscript", "torch_reference"])
    log = lambda s: print(s, flush=True)  # noqa: E731
    rows: List[Row] = []
    rng = np.random.default_rng(8)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "valid" not in skip:
            valid = args.valid
            codes = read_codes(valid, plan.valid_records)
            if plan.valid_records is not None:
                valid = folder / "valid_subset.fa.gz"
                write_fasta_gz(valid, codes, "v")
            calls = runtime_calls(codes, config, stride)
            log(f"valid: {len(codes):,} records, {sum(map(len, codes)):,} nt, {len(calls)} calls, padding waste {padding_waste(calls):.2%}")
            rows.append(row("valid", "padding_waste", sum(c.nt for c in calls), 0.0, 0.0,
                            note=f"padded/real - 1 = {padding_waste(calls):.4f} at batch_nt={config.batch_nt}"))
            rows += bench_case("valid", calls, runners, plan.slices, {}, log)
            rows += bench_cli("valid", valid, calls, session, args.model, plan.cli_rounds, args.threads, folder, log)
            if "parse" not in skip:
                rows.append(bench_parsing("valid", valid, 3, log))
        if "short" not in skip:
            codes = [random_codes(rng, 300) for _ in range(plan.short_records)]
            fasta = folder / "short.fa.gz"
            write_fasta_gz(fasta, codes, "s")
            calls = runtime_calls(codes, config, stride)
            log(f"short: {len(codes):,} x 300 nt, {len(calls)} calls, padding waste {padding_waste(calls):.2%}")
            frac = plan.short_torch_fraction
            rows += bench_case("short_300nt", calls, runners, plan.slices, {"torch_fast": frac, "torchscript": frac, "torch_reference": frac}, log)
            rows += bench_cli("short_300nt", fasta, calls, session, args.model, max(1, plan.cli_rounds - 1), args.threads, folder, log)
            if "parse" not in skip:
                rows.append(bench_parsing("short_300nt", fasta, 3, log))
        if "long" not in skip:
            codes = [random_codes(rng, plan.long_nt)]
            fasta = folder / "long.fa.gz"
            write_fasta_gz(fasta, codes, "long")
            calls = runtime_calls(codes, config, stride)
            case = f"long_{plan.long_nt // 1_000_000}Mnt"
            log(f"long: 1 x {plan.long_nt:,} nt, {len(calls)} chunked calls")
            frac = plan.long_torch_fraction
            rows += bench_case(case, calls, {k: v for k, v in runners.items() if k != "torch_reference"}, plan.slices * 2,
                               {"torch_fast": frac, "torchscript": frac}, log)
            piece = runtime_calls([codes[0][: plan.reference_piece_nt]], config, stride)
            ref = bench_case(case + "_piece", piece, {k: runners[k] for k in ("ort_session", "torch_reference")}, 2, {}, log)
            for r in ref:
                if r["variant"] == "torch_reference":
                    r["note"] = f"extrapolated to {plan.long_nt:,} nt from a {plan.reference_piece_nt:,}-nt piece (nt/s is the piece's)"
                    r["case"] = case
            rows += ref
            rows += bench_cli(case, fasta, calls, session, args.model, 1, args.threads, folder, log)
        if "settings" not in skip:
            settings = settings_runners(model_path)
            codes = read_codes(args.valid, plan.valid_records or 1_000)
            rows += bench_case("settings_valid", runtime_calls(codes, config, stride), settings, plan.slices, {}, log)
            long_calls = runtime_calls([random_codes(rng, plan.reference_piece_nt)], config, stride)
            rows += bench_case("settings_long", long_calls, settings, plan.slices, {}, log)
        if "sweep" not in skip:
            sweep = bench_sweep(runners, plan.sweep_total_nt, plan.sweep_lengths, config, stride, rng, 3, log)
            rows += sweep
            plot_sweep(sweep, args.plot)
            log(f"plot: {args.plot}")
    write_tsv(rows, args.out)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
