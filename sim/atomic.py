"""Atomic file writes: write a temporary file beside the target, then rename it into place.

A reader, or a run killed midway, finds either the old file or the complete new one, never half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from sim.errors import ConfigError

# mkstemp creates files readable by the owner only; give the final file the permissions open() would.
UMASK = os.umask(0)
os.umask(UMASK)
FILE_MODE = 0o666 & ~UMASK


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file in the target's folder, then rename it to ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        # Name the file the caller asked for, not a temporary one.
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_writable_file(path: str | Path, option: str) -> None:
    """Raise :class:`~sim.errors.ConfigError` (naming ``option``) unless ``path`` can be written as a file.

    Checked before a long computation whose result goes to ``path``: the path must be new or a regular file, and its
    nearest existing folder must be a writable directory. A device, a pipe or a symbolic link is rejected, because
    the atomic write would replace it with a regular file.
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise ConfigError(str(path), option, "is a directory; name the file to write inside it")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ConfigError(
            str(path), option, "is not a regular file (a device, a pipe or a symbolic link); name a new or regular file"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(str(path), option, f"{folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(str(path), option, f"the folder {folder} is not writable")
    # os.access trusts the permission bits, so for root it reports folders such as /proc as writable, although they
    # take no files. Creating a file that is removed at once is the real test.
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(str(path), option, f"the folder {folder} takes no new files ({exc.strerror})") from None


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))
