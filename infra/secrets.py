"""Writing secrets (encryption keys, the link secret, the codec token) to local files.

Every secret file is readable by its owner only from its first byte: it is written to a
temporary file created with mode 0600 in the same directory (itself made 0700 when new), then
moved into place in one step, so no reader ever sees it half-written or with wider rights.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _temporary(path: Path, text: str) -> Path:
    """``text`` in a new 0600 file beside ``path`` (mkstemp creates it 0600), synced to disk."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def write_secret(path: Path, text: str) -> None:
    """Write (or replace) the secret file ``path`` with ``text``, mode 0600 throughout."""
    path = Path(path)
    tmp = _temporary(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret in ``path``, made with ``make()`` and written (0600) if there is none yet.

    Two processes starting at once (a worker and a command) agree on one secret: the file is
    linked into place only if no other process got there first, and then theirs is read.
    """
    path = Path(path)
    if path.exists():
        return path.read_text(encoding="utf-8")
    text = make()
    tmp = _temporary(path, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text(encoding="utf-8")
    finally:
        tmp.unlink(missing_ok=True)
    return text
