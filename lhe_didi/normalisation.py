"""Which cross section a transformed file carries: the input's (hvq's on-shell sigma x BR) or the off-shell one.

bb4l replaces the tt~ *and* the tW samples, so its sigma is the full off-shell one. lhe-didi's models record the
cross sections of their training reference (``config["data"]``: on-shell and off-shell LO samples at each trained
mass), so sigma_off / sigma_on of that reference, interpolated linearly in the top mass, scales ``<init>``
(XSECUP, XERRUP, XMAXUP) and every event's XWGTUP and carried-over named weights with ``offshell``.
The default, ``input``, keeps the input's normalisation: the ratio is a leading-order one, and analyses normalise
to their best total cross section; the factor that ``offshell`` would apply is recorded either way.
"""

from __future__ import annotations

import numpy as np

from .errors import LheDidiError
from .io.events import EventBatch
from .io.reader import LheHeader

NORMALISATIONS = ("input", "offshell")


def offshell_factor(config: dict, top_mass: float | None) -> float | None:
    """sigma_off / sigma_on of the model's training reference at ``top_mass``; None if the model records no
    training cross sections (the input mass outside the trained ones is refused before this is asked)."""
    sides = {side: config["data"][side] for side in ("onshell", "offshell")}
    sides = {side: entries if isinstance(entries, list) else [entries] for side, entries in sides.items()}
    per_mass: dict[float, dict[str, float]] = {}
    fixed_mass = config.get("physics", {}).get("top_mass")
    for side, entries in sides.items():
        for entry in entries:
            sigma = entry.get("cross_section_pb")
            mass = entry.get("parameters", {}).get("top_mass", fixed_mass)
            if sigma is None or mass is None or not sigma > 0:
                return None
            per_mass.setdefault(float(mass), {})[side] = float(sigma)
    masses = sorted(m for m, sigmas in per_mass.items() if len(sigmas) == 2)
    if not masses:
        return None
    ratios = [per_mass[m]["offshell"] / per_mass[m]["onshell"] for m in masses]
    return float(np.interp(masses[0] if top_mass is None else top_mass, masses, ratios))


def scaled_header(header: LheHeader, factor: float) -> LheHeader:
    """``header`` with XSECUP, XERRUP and XMAXUP of every process line in ``<init>`` multiplied by ``factor``."""
    cross_sections = [(x * factor, e * factor, p) for x, e, p in header.cross_sections]
    return header.with_cross_sections(cross_sections, [w * factor for w in header.max_weights])


def scaled_events(batch: EventBatch, factor: float) -> EventBatch:
    """``batch`` with XWGTUP and the named weights it carries multiplied by ``factor``."""
    out = batch.with_momenta(batch.momenta)
    out.weight = batch.weight * factor
    out.named_weights = {k: v * factor for k, v in batch.named_weights.items()}
    return out


def provenance(choice: str, factor: float | None) -> dict:
    """The ``normalisation`` entry of the transform's header block."""
    if choice not in NORMALISATIONS:
        raise LheDidiError(f"unknown normalisation {choice!r}; choose from {', '.join(NORMALISATIONS)}")
    if choice == "offshell":
        return {
            "carried": "offshell",
            "factor_applied": factor,
            "why": "sigma x BR of the input scaled by sigma_off/sigma_on of the model's LO training reference",
        }
    return {
        "carried": "input",
        "factor_applied": 1.0,
        "offshell_factor": factor,
        "why": "the input's sigma x BR (on-shell); multiply by offshell_factor for the LO off-shell normalisation",
    }


def normalisation_line(entry: dict) -> str:
    """One line saying which cross section a file carries (transform's output, inspect)."""
    if entry.get("carried") == "offshell":
        return (
            f"normalisation: off-shell, <init> and XWGTUP scaled by sigma_off/sigma_on = {entry['factor_applied']:.4f}"
        )
    factor = entry.get("offshell_factor")
    known = f"; sigma_off/sigma_on of the model's reference {factor:.4f} (--normalisation offshell)" if factor else ""
    return f"normalisation: the input's sigma x BR (on-shell){known}"
