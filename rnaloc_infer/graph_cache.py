"""The cache of ONNX Runtime's optimised graphs: private, verified, bounded.

Why a cache: ORT rewrites the graph (fusions, constant folding, layout changes) on every
load, which took ~0.3 s of the command's start-up for the three-member default; loading the
saved result with optimisation off takes ~0.08 s (docs/PERFORMANCE.md).

Why the care: the cached file is run in place of the model, so a cache file that was
replaced (by hand, another tool, a bad disk) would silently run another model while the
sidecar names the model's sha256. So each entry is a pair:

* ``STEM.KEY.ort-optimized.onnx``: the graph, written only after its model passed the
  runtime's validation (metadata and inputs/outputs: ``ModelSession``);
* ``STEM.KEY.ort-optimized.onnx.json``: its record: the graph's own sha256 and size, the
  source model's sha256, the ORT version and the CPU signature.

An entry is used only when its record matches the model, this ORT and this CPU, and the
graph's bytes hash to the recorded sha256 (the bytes hashed are the bytes given to ORT, so
nothing can change in between); otherwise it is rebuilt, with a log line. The folder is the
user's alone (0700, files 0600; a folder owned by someone else is not used) and holds at
most ``MAX_ENTRIES`` graphs and ``MAX_BYTES`` bytes: the least recently used are removed.
Nothing here imports onnxruntime: session.py runs ORT and hands the bytes in and out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

from .modelfile.digest import bytes_sha256, file_sha256
from .errors import OutputError
from .output.files import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

CACHE_ENV = "RNALOC_INFER_CACHE"  # folder for optimised graphs; "off" disables the cache
SUFFIX = ".ort-optimized.onnx"
RECORD_SUFFIX = ".json"
SCHEMA = "rnaloc-infer/graph-cache/1"
MAX_ENTRIES = 16  # a few models x precisions x ORT versions; each ~2 MB for the bundled ones
MAX_BYTES = 256 << 20
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def cpu_signature() -> str:
    """CPU model and flags: ORT's layout optimisations (NCHWc blocks) depend on the vector width."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    keep = [line for line in text.splitlines() if line.startswith(("model name", "flags"))][:2]
    return "\n".join(keep) or platform.machine()


def cache_folder() -> Optional[Path]:
    """The configured folder (``$RNALOC_INFER_CACHE``, else ``$XDG_CACHE_HOME/rnaloc-infer``,
    else ``~/.cache/rnaloc-infer``); None when the cache is off."""
    folder = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rnaloc-infer")
    return None if folder == "off" else Path(folder)


@dataclass(frozen=True)
class Entry:
    """Where one model's optimised graph lives, and what its record must say."""

    graph: Path
    source_sha256: str
    runtime: str
    cpu: str

    @property
    def record(self) -> Path:
        return self.graph.with_name(self.graph.name + RECORD_SUFFIX)

    def expected(self) -> dict:
        return {"schema": SCHEMA, "source_sha256": self.source_sha256, "runtime": self.runtime, "cpu": self.cpu}


def entry_for(model: Path, runtime: str) -> Optional[Entry]:
    """The cache entry of ``model`` for this runtime (e.g. "onnxruntime 1.20.1") and CPU;
    None when the cache is off. The key covers the model's bytes, the runtime and the CPU,
    because the optimised graph is specific to all three."""
    folder = cache_folder()
    if folder is None:
        return None
    source = file_sha256(model)
    cpu = cpu_signature()
    key = hashlib.sha256(f"{source}\n{runtime}\n{cpu}".encode()).hexdigest()[:20]
    return Entry(folder / f"{model.stem}.{key}{SUFFIX}", source, runtime, cpu)


def _private_folder(folder: Path, create: bool) -> bool:
    """Whether ``folder`` is a directory only this user can enter (made 0700 when ``create``;
    an own folder with wider permissions is narrowed). A folder of another user is not used."""
    try:
        if create:
            folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError as exc:
        if create:
            log.debug("cannot use the graph cache %s: %s", folder, exc)
        return False
    if not stat.S_ISDIR(info.st_mode):
        return False
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        log.warning("not using the graph cache %s: it belongs to another user (set %s to a folder of yours, or 'off')",
                    folder, CACHE_ENV)
        return False
    if stat.S_IMODE(info.st_mode) & 0o077:
        try:
            os.chmod(folder, FOLDER_MODE)
            log.info("graph cache %s made private (mode 0700)", folder)
        except OSError as exc:
            log.warning("not using the graph cache %s: it is readable by others and cannot be made private (%s)", folder, exc)
            return False
    return True


def load(entry: Entry) -> Optional[bytes]:
    """The cached graph's bytes when its record vouches for them; None (logged when an entry
    was there but failed a check) otherwise, and the caller rebuilds it."""
    if not entry.graph.exists() or not _private_folder(entry.graph.parent, create=False):
        return None
    try:
        record = json.loads(entry.record.read_text())
        data = entry.graph.read_bytes()
    except FileNotFoundError:
        log.info("cached graph %s has no record; rebuilding it", entry.graph)
        return None
    except (OSError, ValueError) as exc:
        log.warning("cached graph %s is unreadable (%s); rebuilding it", entry.graph, exc)
        return None
    problem = _mismatch(entry, record, data)
    if problem:
        log.warning("cached graph %s %s; rebuilding it", entry.graph, problem)
        return None
    with contextlib.suppress(OSError):
        os.utime(entry.graph)  # recently used: eviction goes by this time
    return data


def _mismatch(entry: Entry, record: object, data: bytes) -> str:
    if not isinstance(record, dict):
        return "has an unreadable record"
    for key, value in entry.expected().items():
        if record.get(key) != value:
            return f"was made for another {key.replace('_', ' ')} than this run's"
    if record.get("bytes") != len(data) or record.get("sha256") != bytes_sha256(data):
        return "does not match its recorded sha256 (changed since it was written)"
    return ""


class PendingEntry:
    """A graph ORT is writing to a temporary path; :meth:`commit` moves it into the cache
    (call it once the model passed validation), :meth:`discard` removes it."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self._stack = contextlib.ExitStack()
        self.path: Path = self._stack.enter_context(atomic_path(entry.graph, mode=FILE_MODE))

    def commit(self) -> None:
        """Publish the graph and its record (graph first: a record never vouches for a graph
        that is not there yet), then keep the cache within its bounds. Failures are logged."""
        try:
            data = self.path.read_bytes()
            self._stack.close()  # renames the temporary file over the entry
            record = {**self.entry.expected(), "sha256": bytes_sha256(data), "bytes": len(data)}
            atomic_write_text(self.entry.record, json.dumps(record, indent=1) + "\n", mode=FILE_MODE)
        except (OSError, OutputError) as exc:
            log.debug("cannot cache the optimised graph in %s: %s", self.entry.graph.parent, exc)
            self.discard()
            return
        evict(self.entry.graph.parent, keep=self.entry.graph)

    def discard(self) -> None:
        """Remove the temporary graph (the model was rejected, or the session failed)."""
        with contextlib.suppress(Exception):
            self._stack.__exit__(RuntimeError, RuntimeError("discarded"), None)


def begin(entry: Entry) -> Optional[PendingEntry]:
    """A :class:`PendingEntry` for ``entry`` in a private folder; None when the folder cannot
    be made or used (read-only home, full disk, another user's folder): no cache, same result."""
    if not _private_folder(entry.graph.parent, create=True):
        return None
    try:
        return PendingEntry(entry)
    except (OSError, OutputError) as exc:
        log.debug("cannot cache the optimised graph in %s: %s", entry.graph.parent, exc)
        return None


def _entries(folder: Path) -> List[Path]:
    try:
        return [p for p in folder.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith(".")]
    except OSError:
        return []


def evict(folder: Path, keep: Optional[Path] = None, max_entries: Optional[int] = None,
          max_bytes: Optional[int] = None) -> List[Path]:
    """Remove the least recently used graphs (and their records) beyond ``max_entries`` or
    ``max_bytes`` (default :data:`MAX_ENTRIES`, :data:`MAX_BYTES`), and records whose graph is
    gone; ``keep`` (the entry just written) stays. Returns the graphs removed."""
    max_entries = MAX_ENTRIES if max_entries is None else max_entries
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    stamped = []
    for path in _entries(folder):
        with contextlib.suppress(OSError):
            info = path.stat()
            stamped.append((path == keep, info.st_mtime_ns, info.st_size, path))
    stamped.sort(key=lambda item: (item[0], item[1]), reverse=True)
    removed, count, total = [], 0, 0
    for _, _, size, path in stamped:
        if path != keep and (count + 1 > max_entries or total + size > max_bytes):
            for victim in (path, path.with_name(path.name + RECORD_SUFFIX)):
                with contextlib.suppress(OSError):
                    victim.unlink()
            removed.append(path)
            continue
        count, total = count + 1, total + size
    with contextlib.suppress(OSError):
        for record in folder.glob(f"*{SUFFIX}{RECORD_SUFFIX}"):
            if not record.with_name(record.name[:-len(RECORD_SUFFIX)]).exists():
                record.unlink()
    if removed:
        log.debug("graph cache %s: removed %d least recently used graphs", folder, len(removed))
    return removed


def iter_entries(folder: Path) -> Iterator[Path]:
    """The graphs in the cache folder (tests, housekeeping)."""
    yield from _entries(folder)
