"""The released model from a cross-fitting run (``rnaloc-train crossfit-refit``): every member of
a cross-fitted blend refit on all labelled records with what its folds chose, then folded into
one :class:`.ensemble_model.EnsembleModel` with the blend fitted out of fold.

Why: with cross-fitting (:mod:`.crossfit`), the blend, its calibration and its thresholds are
fitted on out-of-fold scores (:mod:`.crossfit_blend`, ``blend.json``), so nothing is fitted on
valid any more; what ships are the members refit on train + valid (13,837 records), as
scikit-learn's ``StackingClassifier`` refits its estimators on all data after ``cv``. A refit
member has no record left to choose anything on, so it takes the folds' choices:

* network: the fold config (``fold<k>/config.json``, the same for every fold), trained for
  the **median of the folds' best epochs** (``best_epoch`` of each fold's ``oof.npz``, the
  epoch of its ``best.pt``), with the learning-rate schedule of the config's full length
  (``optim.epochs``), stopped after that epoch: the learning rate at each epoch is the fold
  runs' (:class:`.trainer.Trainer` ``stop_after``). No validation, no early stopping;
  per-epoch snapshots off (nothing averages them);
* regression: C = the median of the folds' chosen C (``fold<k>/fold.json``);
* forest: its settings fixed in advance (:data:`.forest.SETTINGS`; its boosting stops on its
  own inner 15 % of the records, as in every fold; the trees kept per class are reported).

With an even number of folds the median is the lower middle value (a value some fold chose).

Layout of ``OUT`` (resumable: a member with ``member.json`` status ``done`` is kept, a network
with ``last.pt`` continues; each member under a lock, so processes can share the members)::

    OUT/<member>/member.json           what the member was refit with, status, records
    OUT/<member>/refit.log             the member's log lines (appended on every resume)
    OUT/<network>/model.pt             the refit network (and the trainer's last.pt, log.jsonl)
    OUT/regression/model.npz           the refit regression; OUT/forest/model.npz the forest
    OUT/ensemble.pt                    the EnsembleModel, thresholds from blend.json
    OUT/refit.json                     report: members' choices, files, blend, order

Members already refit elsewhere (``--members-from``, e.g. the default's refit for ``fast``)
are read in place when they were refit with the same choices from the same folds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from rnaloc_infer.output.files import atomic_write_text

from .crossfit import FOLDS_FILE, read_folds, read_oof
from .crossfit_blend import BLEND_FORMAT, LAST_MEMBERS, REPORT_JSON, oof_paths
from .crossfit_members import FOLD_FILE, MEMBERS, MODEL_FILE
from .data import SequenceSet

log = logging.getLogger(__name__)

NETWORK_FILE = "model.pt"
MEMBER_FILE = "member.json"
ENSEMBLE_FILE = "ensemble.pt"
REPORT_FILE = "refit.json"
LOG_FILE = "refit.log"
DONE = "done"
# what the released files record about where each part was fitted (rnaloc.fitting, export/release.py)
FITTING = {
    "members": "refit on all labelled records (train + valid) with the choices of their cross-fitting folds",
    "blend": "out of fold: weights, standardisation on the members' cross-fitted scores (rnaloc-train crossfit-blend)",
    "calibration": "out of fold (Platt scaling on cross-fitted scores)",
    "thresholds": "out of fold (policy thresholds on cross-fitted scores)",
    "valid_evaluation": "in-sample: the valid records trained the members",
}


@dataclass
class MemberPlan:
    """One member's refit: its kind and what its folds chose."""

    name: str
    kind: str  # "network", "regression" or "forest"
    chosen: dict  # network: epochs, schedule_epochs; regression: C, C_per_fold; forest: settings
    config: Optional[Path] = None  # a network's fold config
    folds_sha256: str = ""
    # what the folds reported beside the choice (network: best epoch per fold; forest: trees per fold); shown,
    # not compared on reuse, so a refit may start before the last fold ends when that fold cannot change
    # the choice (the forest's fixed settings), or be continued when it moves a network's median up
    reported: dict = field(default_factory=dict)

    @property
    def file(self) -> str:
        return NETWORK_FILE if self.kind == "network" else MODEL_FILE

    def describe(self) -> dict:
        return {"member": self.name, "kind": self.kind, **self.chosen, **self.reported,
                **({"config": str(self.config)} if self.config else {})}


def middle(values: Sequence[float]):
    """The median; the lower middle value for an even count (a value some fold chose)."""
    return statistics.median_low(values)


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: missing ({what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable {what} ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a {what} (a JSON object expected)")
    return data


def read_blend(path: Path) -> dict:
    """``blend.json`` of ``crossfit-blend``, checked: every member's statistics and weights and
    the Platt numbers per class, thresholds in [0, 1] or null; the members must include the
    regression and at least one network (what an :class:`.ensemble_model.EnsembleModel` holds)."""
    blend = _read_json(path, "blend (rnaloc-train crossfit-blend)")
    if blend.get("format") != BLEND_FORMAT:
        raise ValueError(f"{path}: not a cross-fitted blend (format {blend.get('format')!r}, expected {BLEND_FORMAT!r})")
    try:
        classes, members = list(blend["classes"]), list(blend["members"])
        n = len(classes)
        tables = [blend["standardisation"]["mean"], blend["standardisation"]["std"], blend["weights"]]
        for name in members:
            for table in tables:
                if len(table[name]) != n:
                    raise ValueError(f"member {name}: {len(table[name])} values for {n} classes")
            if not all(s > 0 for s in blend["standardisation"]["std"][name]):
                raise ValueError(f"member {name}: a standard deviation <= 0")
        for key in ("a", "b"):
            if len(blend["platt"][key]) != n:
                raise ValueError(f"platt {key}: {len(blend['platt'][key])} values for {n} classes")
        thresholds = blend["thresholds"]
        if len(thresholds) != n or not all(t is None or 0.0 <= float(t) <= 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be {n} numbers in [0, 1] or null")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: incomplete blend (missing or malformed {exc})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if "regression" not in members or not [m for m in members if m not in LAST_MEMBERS]:
        raise ValueError(f"{path}: members {', '.join(members)}: an ensemble model needs the regression and at "
                         "least one network (crossfit-blend --member)")
    return blend


def ensemble_order(members: Sequence[str]) -> List[str]:
    """Networks (in the blend's order), then the regression, then the forest: the order of an
    :class:`.ensemble_model.EnsembleModel`'s parts (and of its fused export)."""
    return [m for m in members if m not in LAST_MEMBERS] + [m for m in LAST_MEMBERS if m in members]


def folds_digest(crossfit_dir: Path) -> str:
    return hashlib.sha256((crossfit_dir / FOLDS_FILE).read_bytes()).hexdigest()


def _network_config(member_dir: Path, k: int) -> Path:
    """The fold config every fold of a network ran (they must agree but for the data folder)."""
    from .config import load_config

    first, reference = None, None
    for fold in range(k):
        path = member_dir / f"fold{fold}" / "config.json"
        if not path.is_file():
            raise ValueError(f"{path}: missing: a network's fold lacks its config (rnaloc-train crossfit writes it)")
        config = load_config(path)
        config.data = replace(config.data, data_dir=None)
        if reference is None:
            first, reference = path, config.to_dict()
        elif config.to_dict() != reference:
            raise ValueError(f"{path}: differs from {first}: the folds of {member_dir.name} ran other configs")
    return first


def _logged_best_epoch(log_path: Path) -> Optional[int]:
    """The last epoch marked best in a trainer's ``log.jsonl`` (None without one)."""
    if not log_path.is_file():
        return None
    best = None
    for line in log_path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            if record.get("best"):
                best = int(record["epoch"])
    return best


def plan_member(crossfit_dir: Path, name: str) -> MemberPlan:
    """What ``name``'s folds chose (every fold must be finished: one line naming the first
    missing file)."""
    stored, _, paths = oof_paths(crossfit_dir, [name])
    k = len(paths[0])
    member_dir = crossfit_dir / name
    digest = folds_digest(crossfit_dir)
    if name in MEMBERS:
        infos = [_read_json(member_dir / f"fold{fold}" / FOLD_FILE, "fold record") for fold in range(k)]
        if name == "regression":
            values = [info.get("C") for info in infos]
            bad = [fold for fold, c in enumerate(values) if not isinstance(c, (int, float)) or not c > 0]
            if bad:
                raise ValueError(f"{member_dir / f'fold{bad[0]}' / FOLD_FILE}: no chosen C (a positive number)")
            return MemberPlan(name, name, {"C": float(middle(values)), "C_per_fold": [float(c) for c in values]},
                              folds_sha256=digest)
        from .forest import ForestRecipe

        trees = [info.get("trees_fitted") for info in infos]
        recipes = {ForestRecipe.from_record(info) for info in infos}
        if len(recipes) != 1:
            raise ValueError(f"{member_dir}: its folds were fitted with different recipes: "
                             + "; ".join(sorted(r.describe() for r in recipes)))
        recipe = recipes.pop()
        chosen = {"settings": recipe.settings(), **recipe.record()}
        return MemberPlan(name, name, chosen, folds_sha256=digest, reported={"trees_per_fold": trees})
    config_path = _network_config(member_dir, k)
    from .config import load_config

    schedule = load_config(config_path).optim.epochs
    best = []
    for fold, path in enumerate(paths[0]):
        epoch = read_oof(path)["best_epoch"]
        logged = _logged_best_epoch(path.parent / "log.jsonl")
        if logged is not None and logged != epoch:
            raise ValueError(f"{path}: best epoch {epoch}, but {path.parent / 'log.jsonl'} marks epoch {logged} best")
        if not 1 <= epoch <= schedule:
            raise ValueError(f"{path}: best epoch {epoch} outside the config's 1..{schedule}")
        best.append(epoch)
    return MemberPlan(name, "network", {"epochs": int(middle(best)), "schedule_epochs": schedule},
                      config_path, digest, reported={"best_epochs": best})


def _member_record(directory: Path) -> Optional[dict]:
    path = directory / MEMBER_FILE
    return _read_json(path, "refit member record") if path.is_file() else None


def finished(directory: Path, plan: MemberPlan) -> bool:
    """Whether ``directory`` holds ``plan``'s member refit to the end with the same choices from
    the same folds; a member refit otherwise there is an error (one line), not a silent reuse."""
    record = _member_record(directory)
    if record is None:
        return False
    # records written before the per-fold figures moved out of ``chosen`` still hold them there
    chosen = {key: value for key, value in (record.get("chosen") or {}).items() if key not in plan.reported}
    if chosen != json.loads(json.dumps(plan.chosen)) or record.get("folds_sha256") != plan.folds_sha256:
        if extends(record, plan):
            log.info("%s: refit for %s epochs; the folds now choose %s: continued from last.pt", plan.name,
                     record["chosen"]["epochs"], plan.chosen["epochs"])
            return False
        raise ValueError(f"{directory / MEMBER_FILE}: {plan.name} was refit with other choices or folds "
                         f"({record.get('chosen')}) than {plan.chosen}; use another --out")
    return record.get("status") == DONE and (directory / plan.file).is_file()


def extends(record: dict, plan: MemberPlan) -> bool:
    """Whether a network refit for fewer epochs of the same schedule, from the same folds, can
    be continued to ``plan``'s epochs (a fold that finished later moved the median up): its
    ``last.pt`` is where an uninterrupted refit passes on its way, the learning rates being
    the schedule's."""
    before = record.get("chosen") or {}
    return (plan.kind == "network" and record.get("kind") == "network" and record.get("folds_sha256") == plan.folds_sha256
            and before.get("schedule_epochs") == plan.chosen["schedule_epochs"]
            and isinstance(before.get("epochs"), int) and before["epochs"] < plan.chosen["epochs"])


def _write_record(directory: Path, plan: MemberPlan, status: str, **more) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / MEMBER_FILE, json.dumps(
        {"member": plan.name, "kind": plan.kind, "status": status, "chosen": plan.chosen,
         "folds_sha256": plan.folds_sha256, "file": plan.file, **more}, indent=1) + "\n")


def refit_network(plan: MemberPlan, data: SequenceSet, directory: Path, data_dir: Path, train_sha256: str,
                  device: str = "auto", quiet: bool = True) -> dict:
    """Train ``plan``'s network on ``data`` for the chosen epochs (resuming from ``last.pt``)
    and save it as ``directory/model.pt``."""
    from .checkpoint import save_checkpoint
    from .config import load_config
    from .trainer import Trainer

    config = load_config(plan.config)
    config.optim = replace(config.optim, snapshots=False)
    config.data = replace(config.data, data_dir=str(data_dir))
    _write_record(directory, plan, "training", records=len(data))
    trainer = Trainer(config, directory, device=device, quiet=quiet, train=data, valid=None,
                      train_sha256=train_sha256, stop_after=plan.chosen["epochs"])
    if (directory / "last.pt").exists():
        trainer.resume()
        if trainer.epoch > plan.chosen["epochs"]:
            raise ValueError(f"{directory / 'last.pt'}: a run at epoch {trainer.epoch}, past the "
                             f"{plan.chosen['epochs']} epochs chosen; use another --out")
    trainer.fit()
    save_checkpoint(directory / NETWORK_FILE, trainer.model, train_data_sha256=train_sha256, epoch=trainer.epoch,
                    extra={"train_config": config.to_dict(), "crossfit_refit": plan.describe()})
    return {"epochs_trained": trainer.epoch}


def refit_model(plan: MemberPlan, data: SequenceSet, x: np.ndarray, directory: Path) -> dict:
    """Fit the regression (the chosen C) or the forest (fixed settings) on ``data`` (feature
    rows ``x``), saved as ``directory/model.npz``."""
    from .crossfit_members import fit_member

    directory.mkdir(parents=True, exist_ok=True)
    _write_record(directory, plan, "training", records=len(data))
    recipe = None
    if plan.name == "forest":
        from .forest import ForestRecipe

        recipe = ForestRecipe.from_record(plan.chosen)
    _, info = fit_member(plan.name, data, x, directory, plan.chosen.get("C"), recipe)
    # how C was chosen and the forest's recipe are the plan's (``chosen``), not the refit's to record again
    planned = {"C_chosen_on", *(recipe.record() if recipe else ())}
    return {key: value for key, value in info.items() if key not in planned}


def refit_member(plan: MemberPlan, data: SequenceSet, directory: Path, data_dir: Path, train_sha256: str,
                 device: str = "auto", quiet: bool = True) -> Optional[dict]:
    """Refit one member into ``directory`` under its lock; None when another process holds it."""
    from .crossfit import fold_lock

    with fold_lock(directory) as mine:
        if not mine:
            log.info("%s: being refit by another process; skipped here", plan.name)
            return None
        if finished(directory, plan):
            return _member_record(directory)
        with member_log(directory / LOG_FILE):
            log.info("%s: refit on %d records with %s", plan.name, len(data), plan.chosen)
            if plan.kind == "network":
                info = refit_network(plan, data, directory, data_dir, train_sha256, device, quiet)
            else:
                from .crossfit_members import member_inputs

                info = refit_model(plan, data, member_inputs(plan.name, data.codes), directory)
            _write_record(directory, plan, DONE, records=len(data), train_data_sha256=train_sha256, **info)
            log.info("%s: done -> %s", plan.name, directory / plan.file)
        return _member_record(directory)


@contextlib.contextmanager
def member_log(path: Path) -> Iterator[None]:
    """Every log record of one member's refit also appended to ``path`` (``refit.log``), so a
    refit running in the background has one readable log per member."""
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def locate(plan: MemberPlan, out_dir: Path, elsewhere: Sequence[Path]) -> Optional[Path]:
    """The folder holding ``plan``'s finished refit: ``out_dir/<member>``, else the first of
    ``elsewhere`` that has it; None when none has."""
    for folder in [out_dir, *elsewhere]:
        if finished(folder / plan.name, plan):
            return folder / plan.name
    return None


@dataclass
class Assembled:
    model: object  # EnsembleModel
    thresholds: List[Optional[float]]  # blend.json's (None: never labelled)
    order: List[str]
    coefficients: List[np.ndarray] = field(default_factory=list)
    bias: Optional[np.ndarray] = None


def assemble(blend: dict, folders: Dict[str, Path]) -> Assembled:
    """The EnsembleModel of the refit members in ``folders`` with ``blend``'s standardisation,
    weights and Platt numbers folded in (:func:`.ensemble.fold_blend`, shared with
    ``rnaloc-train ensemble``)."""
    from .checkpoint import load_checkpoint
    from .ensemble import fold_blend, with_logreg
    from .forest import load_forest
    from .models import LocalizationModel
    from .regression import load_logreg

    order = ensemble_order(blend["members"])
    classes = list(blend["classes"])
    networks = []
    for name in order:
        if name in LAST_MEMBERS:
            continue
        network, _ = load_checkpoint(folders[name] / NETWORK_FILE)
        if not isinstance(network, LocalizationModel) or list(network.config.classes) != classes:
            raise ValueError(f"{folders[name] / NETWORK_FILE}: not a network of the blend's classes {classes}")
        networks.append(network)
    regression = load_logreg(folders["regression"] / MODEL_FILE)
    forest = load_forest(folders["forest"] / MODEL_FILE) if "forest" in order else None
    for what, got in (("regression", regression.classes), ("forest", forest.classes if forest else classes)):
        if list(got) != classes:
            raise ValueError(f"{folders[what] / MODEL_FILE}: classes {list(got)} differ from the blend's {classes}")
    mean = [np.asarray(blend["standardisation"]["mean"][n], dtype=np.float64) for n in order]
    std = [np.asarray(blend["standardisation"]["std"][n], dtype=np.float64) for n in order]
    weights = [np.asarray(blend["weights"][n], dtype=np.float64) for n in order]
    a = np.asarray(blend["platt"]["a"], dtype=np.float64)
    b = np.asarray(blend["platt"]["b"], dtype=np.float64)
    primary = with_logreg(networks[0], regression)
    mixing = None
    if blend.get("mixing") is not None:
        mixing = (np.asarray(blend["mixing"]["weight"], dtype=np.float64), np.asarray(blend["mixing"]["bias"], dtype=np.float64))
    model, coefficients, bias = fold_blend(primary, networks[1:], forest, mean, std, weights, a, b, mixing)
    return Assembled(model, list(blend["thresholds"]), order, coefficients, bias)


def uninformative(blend: dict, blend_path: Path) -> Dict[str, str]:
    """The classes whose label carries no information, from ``blend.json`` or the
    ``report.json`` beside it (crossfit-blend), {} when neither says."""
    if isinstance(blend.get("uninformative"), dict):
        return dict(blend["uninformative"])
    if isinstance(blend.get("uninformative"), list):
        return {name: "blend.json" for name in blend["uninformative"]}
    report = blend_path.parent / REPORT_JSON
    if report.is_file():
        found = _read_json(report, "cross-fitting report").get("uninformative") or {}
        return dict(found) if isinstance(found, dict) else {name: "report.json" for name in found}
    return {}


def checkpoint_thresholds(thresholds: Sequence[Optional[float]]) -> List[float]:
    """Thresholds as a checkpoint stores them (plain numbers: 0.5 where blend.json has null);
    the nulls travel in the checkpoint's ``extra["crossfit"]["thresholds"]``."""
    return [0.5 if t is None else float(t) for t in thresholds]


def crossfit_extra(blend: dict, blend_path: Path, crossfit_dir: Path, members: List[dict]) -> dict:
    """What the ensemble checkpoint records of its cross-fitting: export/release.py reads
    ``thresholds`` (blend.json's, null = never labelled) and ``fitting`` from it."""
    return {"format": "rnaloc-crossfit-refit", "format_version": 1,
            "crossfit_dir": str(crossfit_dir), "folds": blend.get("folds"), "records": blend.get("records"),
            "folds_sha256": blend.get("folds_sha256"), "blend": str(blend_path),
            "blend_sha256": hashlib.sha256(blend_path.read_bytes()).hexdigest(),
            "thresholds": [None if t is None else float(t) for t in blend["thresholds"]],
            "uninformative": uninformative(blend, blend_path), "members": members, "fitting": dict(FITTING)}


def labelled_records(crossfit_dir: Path, data_dir: Path, classes: Sequence[str], prefix: str) -> SequenceSet:
    """Train + valid of ``data_dir``: exactly the records of ``crossfit_dir/folds.tsv``."""
    from .crossfit import read_labelled

    data = read_labelled(data_dir, classes, prefix)
    stored = read_folds(crossfit_dir / FOLDS_FILE)
    if set(stored) != set(data.ids):
        raise ValueError(f"{crossfit_dir / FOLDS_FILE}: its {len(stored)} records are not the {len(data)} labelled "
                         f"records of {data_dir} (prefix {prefix}); give the --data-dir the members read")
    return data


def check_blend_folds(blend: dict, blend_path: Path, crossfit_dir: Path) -> None:
    if blend.get("folds_sha256") and blend["folds_sha256"] != folds_digest(crossfit_dir):
        raise ValueError(f"{blend_path}: fitted on other folds than {crossfit_dir / FOLDS_FILE} (folds_sha256 differs)")


def member_entry(plan: MemberPlan, folder: Path, out_dir: Path, classes: Sequence[str]) -> dict:
    """One member's line of the report and the checkpoint: its choices, file and digest (and
    the forest's trees kept per class)."""
    from rnaloc_infer.modelfile.digest import file_sha256

    record = _member_record(folder) or {}
    path = folder / plan.file
    entry = {**plan.describe(), "file": str(path), "sha256": file_sha256(path),
             "source": "refit here" if folder.parent.resolve() == out_dir.resolve() else f"reused from {folder.parent}",
             **{key: record[key] for key in ("records", "epochs_trained", "C") if key in record}}
    if "trees_fitted" in record:
        entry["trees_per_class"] = dict(zip(classes, record["trees_fitted"]))
    return entry


def refit_report(extra: dict, assembled: Assembled) -> dict:
    return {**extra, "order": assembled.order,
            "blend_rows": "0 first network, 1 regression, 2 bias, 3.. further networks; the forest's weight in "
                          "its leaves",
            "thresholds_in_checkpoint": checkpoint_thresholds(assembled.thresholds)}


def crossfit_refit(crossfit_dir: Path, blend_path: Path, out_dir: Path, *, members: Sequence[str] = (),
                   members_from: Sequence[Path] = (), data_dir: Optional[Path] = None, prefix: str = "dm3loc",
                   device: str = "auto", quiet: bool = True, threads: Optional[int] = None) -> dict:
    """Refit ``members`` (default: every member of the blend) into ``out_dir`` unless refit
    there or in ``members_from`` already; then, once every member of the blend is at hand,
    write ``out_dir/ensemble.pt`` and ``out_dir/refit.json``. Returns a summary."""
    from threadpoolctl import threadpool_limits

    from rnaloc_infer.modelfile.digest import files_sha256

    from .checkpoint import save_checkpoint
    from .crossfit_blend import data_source
    from .data import split_paths

    blend = read_blend(blend_path)
    check_blend_folds(blend, blend_path, crossfit_dir)
    unknown = [m for m in members if m not in blend["members"]]
    if unknown:
        raise ValueError(f"--member {', '.join(unknown)}: not a member of {blend_path} ({', '.join(blend['members'])})")
    plans = {name: plan_member(crossfit_dir, name) for name in ensemble_order(blend["members"])}
    todo = [plans[name] for name in ensemble_order(members or blend["members"])]
    folder = data_source(crossfit_dir, list(plans), data_dir)
    data: Optional[SequenceSet] = None
    files = [p for split in ("train", "valid") for p in split_paths(folder, split, prefix)]
    for plan in todo:
        if locate(plan, out_dir, members_from) is not None:
            continue
        if data is None:
            data = labelled_records(crossfit_dir, folder, blend["classes"], prefix)
            digest = files_sha256(files)
        with threadpool_limits(threads):
            refit_member(plan, data, out_dir / plan.name, folder, digest, device, quiet)
    folders = {name: locate(plan, out_dir, members_from) for name, plan in plans.items()}
    missing = [name for name, where in folders.items() if where is None]
    summary = {"members": [{**plans[n].describe(), "folder": None if folders[n] is None else str(folders[n])}
                           for n in plans], "missing": missing, "ensemble": None}
    if missing:
        log.info("not assembled: %s not refit yet", ", ".join(missing))
        return summary
    entries = [member_entry(plans[name], folders[name], out_dir, blend["classes"]) for name in plans]
    extra = crossfit_extra(blend, blend_path, crossfit_dir, entries)
    assembled = assemble(blend, folders)
    first = _member_record(folders[assembled.order[0]]) or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out_dir / ENSEMBLE_FILE, assembled.model, thresholds=checkpoint_thresholds(assembled.thresholds),
                    train_data_sha256=first.get("train_data_sha256") or files_sha256(files),
                    extra={"crossfit": extra, "network_checkpoints": [str(folders[n] / NETWORK_FILE)
                                                                      for n in assembled.order if n not in LAST_MEMBERS]})
    atomic_write_text(out_dir / REPORT_FILE, json.dumps(refit_report(extra, assembled), indent=1) + "\n")
    summary["ensemble"] = str(out_dir / ENSEMBLE_FILE)
    summary["report"] = str(out_dir / REPORT_FILE)
    return summary
