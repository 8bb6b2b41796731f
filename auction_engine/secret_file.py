"""Secrets kept in the data dir: one file per purpose, created private in one call.

A secret written and then chmod-ed is readable for a moment by anyone who can list the
directory; `os.open(O_CREAT | O_EXCL, 0o600)` creates it private, and `O_EXCL` means two
processes starting at once agree on the first one's secret instead of overwriting it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by its owner only, and tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def load_or_create(path: Path, nbytes: int = 32) -> str:
    """The secret in `path`; a new random one, written 0600, when the file does not exist."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if not value:
            raise ValueError(f"the secret file {path} is empty") from None
        return value
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value
