"""The one file-safety layer: every command that writes a file goes through here.

Three promises, kept the same way by ``rnaloc-infer`` (local and Ray), ``rnaloc-explain``,
``rnaloc-export``, every ``rnaloc-train`` subcommand, the graph cache and companion files:

1. **No output is one of the inputs** (:func:`refuse_overwrite`), whatever path reaches it
   (symlink, hard link, relative path) and also through standard input and output: the
   file behind fd 0 or fd 1 is compared by device and inode (``fstat``), as ``cat`` does
   ("input file is output file"). Checked before any work, so a refused run changes nothing.
2. **Whole or not at all** (:func:`atomic_output`, :func:`atomic_path`): content goes to a
   temporary file beside the target, renamed over it only when complete. The temporary
   name carries this process's id, so a later run can tell a leftover of a killed run
   (SIGKILL leaves it) from a run in progress, and removes it (:func:`clean_stale_temps`).
3. **Nothing existing is replaced without being asked** (:func:`refuse_existing`): commands
   that make artefacts (explain, export, training) refuse an existing output unless
   ``--force``. ``rnaloc-infer``'s table is the exception that every pipeline tool makes:
   ``-o out.tsv`` names the result of this run, and a rerun replaces it (atomically); so is
   the same run table of ``rnaloc-explain`` (``OUT_DIR/predictions.tsv``, beside its index,
   which a rerun into OUT_DIR rewrites too).

Paths that are not regular files (/dev/null, /dev/stdout, FIFOs) are written in place and
never refused: writing them replaces nothing.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import logging
import lzma
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import IO, Callable, Iterator, Optional, Sequence, Tuple, Union

from ..errors import OutputError, OverwriteError, output_error

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
Named = Tuple[str, Optional[PathLike]]  # (what it is, path); "-" = standard input / output; None = not used
STREAM = "-"
TEMP_MARK = "rnaloc-tmp"
COMPRESSIONS = ("gzip", "bz2", "xz", "zst")


# ------------------------------------------------------------------ identity
def _identity(path: PathLike) -> Tuple:
    """(device, inode) of an existing file, whatever path reaches it; the resolved path of one
    that does not exist yet (two outputs that will be created at the same place collide too)."""
    try:
        info = os.stat(path)
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", info.st_dev, info.st_ino)


def _stream_identity(fd: int) -> Optional[Tuple]:
    """(device, inode) of the regular file behind a standard stream (``< a.fa``, ``>> a.fa``);
    None for a terminal, a pipe or a closed stream: those cannot be one of the files."""
    try:
        info = os.fstat(fd)
    except (OSError, ValueError):
        return None
    return ("inode", info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def is_special(path: PathLike) -> bool:
    """True for an existing path that is not a regular file (/dev/null, a FIFO, /dev/stdout)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # missing, or a parent is not a directory: the open reports it
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _named_identities(items: Sequence[Named], fd: int) -> Iterator[Tuple[Tuple, str, str]]:
    """(identity, kind, shown path) of each named file; "-" is the file behind ``fd``."""
    for kind, path in items:
        if path is None:
            continue
        if os.fspath(path) == STREAM:
            ident = _stream_identity(fd)
            if ident is not None:
                yield ident, kind, "standard input" if fd == 0 else "standard output"
            continue
        if is_special(path) or os.path.isdir(path):
            continue
        yield _identity(path), kind, os.fspath(path)


def refuse_overwrite(outputs: Sequence[Named], inputs: Sequence[Named]) -> None:
    """Raise :class:`OverwriteError` (exit 2) when an output is an input or another output.

    ``"-"`` among the inputs is standard input, among the outputs standard output: each is
    compared through the file it is redirected from or to. Call before any work.
    """
    seen: dict = {}
    for ident, kind, shown in _named_identities(inputs, 0):
        if ident[0] == "inode":
            seen.setdefault(ident, (kind, shown))
    for ident, kind, shown in _named_identities(outputs, 1):
        other = seen.get(ident)
        if other is not None:
            raise OverwriteError(f"refusing to write {kind} {shown}: it is the same file as the "
                                 f"{other[0]} {other[1]}; nothing was written")
        seen[ident] = (kind, shown)


def refuse_existing(outputs: Sequence[Named], force: bool, *, flag: str = "--force") -> None:
    """Raise :class:`OverwriteError` for an output that exists already, unless ``force``."""
    if force:
        return
    for kind, path in outputs:
        if path is None or os.fspath(path) == STREAM or is_special(path):
            continue
        if os.path.lexists(path):
            raise OverwriteError(f"refusing to replace the existing {kind} {os.fspath(path)} "
                                 f"(use {flag} to replace it); nothing was written")


def check_writable(outputs: Sequence[Named]) -> None:
    """Raise :class:`OutputError` (exit 3) now, before any work, for an output whose directory
    is missing or not writable, or that names a directory: found at the end, the run is lost."""
    for kind, path in outputs:
        if path is None or os.fspath(path) == STREAM or is_special(path):
            continue
        target = Path(path)
        if target.is_dir():
            raise OutputError(f"cannot write {kind} {target}: is a directory")
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"cannot write {kind} {target}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write {kind} {target}: directory {parent} is not writable")


def check_paths(outputs: Sequence[Named], inputs: Sequence[Named], *, force: Optional[bool] = None) -> None:
    """The checks every writing command makes before work: not an input, writable, and (when
    ``force`` is not None) not an existing file unless forced."""
    refuse_overwrite(outputs, inputs)
    if force is not None:
        refuse_existing(outputs, force)
    check_writable(outputs)


# ------------------------------------------------------------ temporary files
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def temp_name(target: Path) -> Path:
    """``.NAME.PID.TOKEN.rnaloc-tmp.SUFFIX`` beside the target (the suffix kept for writers
    that look at it, such as numpy's savez)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.{TEMP_MARK}{target.suffix}")


def clean_stale_temps(target: PathLike) -> list:
    """Remove this tool's temporary files for ``target`` whose process is gone (a run killed
    by SIGKILL or a power cut); returns them. Files of a live process are left alone."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    removed = []
    try:
        candidates = list(parent.glob(f".{target.name}.*.{TEMP_MARK}*"))
    except OSError:
        return removed
    for path in candidates:
        parts = path.name[len(target.name) + 2:].split(".")
        if len(parts) < 3 or not parts[0].isdigit() or _pid_alive(int(parts[0])):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
            log.warning("removed %s, left by an interrupted run (process %s)", path, parts[0])
    return removed


def _publish(tmp: Path, target: Path) -> None:
    """Give the temporary file the usual mode (mkstemp-like 0600 -> 0666 & ~umask), rename."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


Publish = Callable[[Callable[[], None]], None]


@contextlib.contextmanager
def atomic_path(path: PathLike, *, mode: Optional[int] = None, publish: Optional[Publish] = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; renamed over it when the block succeeds, removed
    when it fails (any exception, interrupts included). For writers that take a path
    (``np.savez``, ``torch.save``, ``onnx.save``, matplotlib). ``mode``: the file's
    permissions (default 0666 & ~umask). ``publish(rename)``: called with the function that
    renames, for a caller that must do something just before and after under one lock (the
    run path's sidecar)."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: is a directory")
    clean_stale_temps(target)
    tmp = temp_name(target)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"cannot write {target}: the writer produced no file")
        def rename() -> None:
            if mode is None:
                _publish(tmp, target)
            else:
                os.chmod(tmp, mode)
                os.replace(tmp, target)

        rename() if publish is None else publish(rename)
    except OSError as exc:
        _remove(tmp)
        raise output_error(str(target), exc) from None
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_bytes(path: PathLike, data: bytes, *, mode: Optional[int] = None) -> None:
    with atomic_path(path, mode=mode) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path: PathLike, text: str, *, mode: Optional[int] = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def _compressor(raw: IO[bytes], compression: Optional[str]) -> IO[bytes]:
    """A binary stream that compresses into ``raw``. gzip members carry no name and mtime 0,
    so the same rows give the same bytes (the Ray engine's output is compared byte for byte)."""
    if compression is None:
        return raw
    if compression == "gzip":
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    if compression == "bz2":
        return bz2.BZ2File(raw, "wb")
    if compression == "xz":
        return lzma.LZMAFile(raw, "wb")
    if compression == "zst":
        import zstandard  # checked by output.formats.resolve_output before any work

        return zstandard.ZstdCompressor().stream_writer(raw, closefd=False)
    raise ValueError(f"unknown compression {compression!r}; one of {COMPRESSIONS}")


@contextlib.contextmanager
def _text_stream(raw: IO[bytes], encoding: str, compression: Optional[str]) -> Iterator[IO[str]]:
    packed = _compressor(raw, compression)
    handle = io.TextIOWrapper(packed, encoding=encoding, newline="", write_through=False)
    yield handle
    handle.flush()
    handle.detach()
    if packed is not raw:
        packed.close()
    raw.flush()
    if stat.S_ISREG(os.fstat(raw.fileno()).st_mode):  # /dev/null and FIFOs cannot be synced
        os.fsync(raw.fileno())


@contextlib.contextmanager
def atomic_output(path: Optional[PathLike], *, encoding: str = "utf-8", compression: Optional[str] = None,
                  name: Optional[str] = None, publish: Optional[Publish] = None) -> Iterator[IO[str]]:
    """A text stream whose content appears at ``path`` only if the block succeeds.

    ``None`` or "-" is standard output (flushed at the end; a full disk or a closed pipe
    becomes :class:`OutputError`). A special file is written in place. Otherwise a temporary
    file beside the target is renamed over it at the end, and removed on any exception
    (KeyboardInterrupt and :class:`~rnaloc_infer.errors.Terminated` included).
    """
    if path is None or os.fspath(path) == STREAM:
        try:
            yield sys.stdout
            sys.stdout.flush()
        except OSError as exc:
            raise output_error("standard output", exc) from None
        return
    target = Path(path)
    shown = name or str(target)
    if target.is_dir():
        raise OutputError(f"cannot write {shown}: is a directory")
    if is_special(target):
        try:
            with open(target, "wb") as raw, _text_stream(raw, encoding, compression) as handle:
                yield handle
        except OSError as exc:
            raise output_error(shown, exc) from None
        return
    with atomic_path(target, publish=publish) as tmp:
        try:
            with open(tmp, "xb") as raw, _text_stream(raw, encoding, compression) as handle:
                yield handle
        except OSError as exc:
            raise output_error(shown, exc) from None
