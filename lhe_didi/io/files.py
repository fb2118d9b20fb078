"""Outputs appear only when complete: written under a private temporary name, then renamed."""

from __future__ import annotations

import os
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(temporary: str | os.PathLike, final: str | os.PathLike, directory: bool = False) -> Path:
    """Rename a finished ``temporary`` file (or ``directory``) to ``final``, first giving it the permissions of one
    created normally (0o666, directories 0o777, less the umask) instead of the owner-only mode of mkstemp/mkdtemp."""
    os.chmod(temporary, (0o777 if directory else 0o666) & ~_umask())
    os.replace(temporary, final)
    return Path(final)
