"""SHA-256 of files: the model's identity (sidecar, int8 twin tie, explain's numpy weights,
the graph cache) and a checkpoint's training data.

Why memoised: one ``rnaloc-infer`` start-up needs the model file's digest in several places
(the int8 twin's tie to its fp32 file, the graph cache's key, the sidecar), and hashing a
2 MB model three times was most of what those places cost. A digest is reused only while
the file's identity and stamps (device, inode, size, mtime_ns, ctime_ns) are unchanged;
ctime is in the key because a copy that keeps the date (``cp -p``, ``rsync -t``) still
moves it, so a file replaced in place is hashed again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Dict, Sequence, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]
CHUNK = 1 << 20

_Key = Tuple[int, int, int, int, int]
_memo: Dict[_Key, str] = {}
_lock = threading.Lock()


def _key(info: os.stat_result) -> _Key:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _hash_handle(handle, digest: "hashlib._Hash", chunk: int = CHUNK) -> None:
    for block in iter(lambda: handle.read(chunk), b""):
        digest.update(block)


def file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of one file, computed once per process while the file is unchanged.

    The stamps are taken from the open handle before and after reading; a file that changed
    while it was read is hashed as read but not remembered.
    """
    with open(path, "rb") as handle:
        before = _key(os.fstat(handle.fileno()))
        with _lock:
            known = _memo.get(before)
        if known is not None:
            return known
        digest = hashlib.sha256()
        _hash_handle(handle, digest)
        after = _key(os.fstat(handle.fileno()))
    value = digest.hexdigest()
    if after == before:
        with _lock:
            _memo[before] = value
    return value


def files_sha256(paths: Sequence[PathLike], chunk: int = CHUNK) -> str:
    """One SHA-256 over the bytes of ``paths`` in order (a checkpoint's training data: FASTA +
    labels); not memoised (training hashes its data once)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            _hash_handle(handle, digest, chunk)
    return digest.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes in memory (the graph cache's record of what it wrote)."""
    return hashlib.sha256(data).hexdigest()


def forget() -> None:
    """Drop every remembered digest (tests; a long-lived process that wants a fresh look)."""
    with _lock:
        _memo.clear()
