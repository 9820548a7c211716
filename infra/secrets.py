"""Writing secrets (encryption keys, the link secret, the codec token) to local files.

Every secret file is readable by its owner only from its first byte: it is written to a
temporary file created with mode 0600 in the same directory (itself made 0700 when new), then
moved into place in one step, so no reader ever sees it half-written or with wider rights.
"""

from __future__ import annotations

import contextlib
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


# -- the data dir: owner only -----------------------------------------------------------------
PRIVATE_UMASK = 0o077


def owner_only_from_now() -> int:
    """Make every file and directory this process (and any process it starts) creates from
    now on readable by its owner only (umask 077); the previous umask."""
    return os.umask(PRIVATE_UMASK)


def make_private(directory: Path) -> None:
    """``directory`` 0700 and everything under it owner-only (directories 0700, files 0600):
    repairs a data dir made by an earlier version, or by hand, with wider rights."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(path, 0o600)


def open_private(path: Path, mode: str = "ab"):  # noqa: ANN201 - a file object, text or binary
    """Open ``path`` for writing, creating it 0600 (whatever the umask) if it is new."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    return os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))
