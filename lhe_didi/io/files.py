"""Outputs appear only when complete: written under a private temporary name, then renamed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _give_normal_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """The permissions of a normally created file (0o666, directories 0o777, less the umask)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def publish(temporary: str | os.PathLike, final: str | os.PathLike, directory: bool = False) -> Path:
    """Rename a finished ``temporary`` file (or ``directory``) to ``final``, first giving it the permissions of one
    created normally instead of the owner-only mode of mkstemp/mkdtemp."""
    _give_normal_mode(temporary, directory)
    os.replace(temporary, final)
    return Path(final)


@contextmanager
def staged_directory(final: str | os.PathLike) -> Iterator[Path]:
    """A private temporary directory beside ``final`` to fill: when the block ends normally it replaces ``final``
    (an existing ``final`` is removed first), on any exception (Ctrl-C and SIGTERM included) it is deleted."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield staging
        for written in staging.rglob("*"):  # some writers (safetensors) create owner-only files
            if written.is_file():
                _give_normal_mode(written)
        if final.exists():
            shutil.rmtree(final)
        publish(staging, final, directory=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


_COPY_CHUNK = 1 << 24


def copy_range(path: str | os.PathLike, begin: int, end: int, write) -> None:
    """Pass bytes ``begin`` to ``end`` of the file ``path`` to ``write`` in chunks."""
    with open(path, "rb") as source:
        source.seek(begin)
        while begin < end:
            data = source.read(min(_COPY_CHUNK, end - begin))
            if not data:
                raise OSError(f"{path}: shorter than {end} bytes")
            write(data)
            begin += len(data)
