"""Optional parts of lhe-didi and the ``pip install`` that brings each one.

The core (transform, reweight, inspect, merge) needs only the required dependencies; the
commands below need an extra. :func:`require` is called before such a command starts work,
so that a missing extra is one line naming what to install, not a traceback.
"""

from __future__ import annotations

from importlib.util import find_spec

from .errors import LheDidiError

EXTRAS = {
    "generate": ("pyamplicol",),
    "validate": ("matplotlib", "mplhep"),
    "train": ("scipy",),
    "cluster": ("dask", "distributed"),
}


def missing_modules(extra: str) -> list[str]:
    """Modules of ``extra`` that cannot be found (found without importing them: pyamplicol's import
    starts Symbolica's licence check)."""
    return [name for name in EXTRAS[extra] if find_spec(name) is None]


def require(extra: str, what: str) -> None:
    """Raise one clear line when ``extra`` is not installed; ``what`` names the command or option."""
    missing = missing_modules(extra)
    if missing:
        raise LheDidiError(
            f"{what} needs the '{extra}' extra ({', '.join(missing)} not installed): pip install 'lhe-didi[{extra}]'"
        )
