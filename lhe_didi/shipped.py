"""The models shipped with lhe-didi, found as package resources.

Their source is the repository's top-level ``models/`` folder, installed as the data-only package
``lhe_didi.shipped_models`` (``pyproject.toml``: ``package-dir``), so a wheel, a plain ``pip install``
and an editable install all find them the same way.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

RESOURCE_PACKAGE = "lhe_didi.shipped_models"
DIDI_DEFAULT = "didi-default"
CLASSIFIER_DEFAULT = "classifier-default"
DIDI_MODELS = (DIDI_DEFAULT, "didi-reflow")


def shipped_model(name: str) -> Path:
    """Directory of the shipped model ``name`` (it exists in every install made from the project's files)."""
    return Path(str(files(RESOURCE_PACKAGE) / name))


def resolve_model(model: str | Path | None) -> Path | None:
    """A ``--model`` value: an existing directory as given, else the shipped DiDi model of that name."""
    if model is None or Path(model).exists() or str(model) not in DIDI_MODELS:
        return None if model is None else Path(model)
    return shipped_model(str(model))
