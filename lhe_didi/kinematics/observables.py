"""Reconstructed resonance observables of the six decay products (shared by inspect, validate, tests)."""

from __future__ import annotations

import numpy as np
import vector

from ..constants import B_BAR, LEPTON_MINUS, LEPTON_PLUS, NEUTRINO, NEUTRINO_BAR, B

# name -> decay-product slots whose summed momentum defines the system
SYSTEMS = {
    "t": (B, LEPTON_PLUS, NEUTRINO),
    "tbar": (B_BAR, LEPTON_MINUS, NEUTRINO_BAR),
    "W+": (LEPTON_PLUS, NEUTRINO),
    "W-": (LEPTON_MINUS, NEUTRINO_BAR),
    "b l+": (B, LEPTON_PLUS),
    "b~ l-": (B_BAR, LEPTON_MINUS),
}


def as_vectors(momenta: np.ndarray):
    """(..., 4) arrays of (E, px, py, pz) as a vector MomentumNumpy4D."""
    momenta = np.asarray(momenta, dtype=np.float64)
    return vector.array({"E": momenta[..., 0], "px": momenta[..., 1], "py": momenta[..., 2], "pz": momenta[..., 3]})


def invariant_mass(momenta: np.ndarray) -> np.ndarray:
    """Invariant mass of (..., 4) four-momenta; negative m^2 from rounding gives 0."""
    e, px, py, pz = np.moveaxis(np.asarray(momenta, dtype=np.float64), -1, 0)
    return np.sqrt(np.maximum(e * e - px * px - py * py - pz * pz, 0.0))


def system_momenta(momenta: np.ndarray) -> dict[str, np.ndarray]:
    """Summed four-momenta (N, 4) of the reconstructed t, t~, W+, W-, b l+ and b~ l- systems."""
    return {name: momenta[:, list(slots)].sum(axis=1) for name, slots in SYSTEMS.items()}


def system_masses(momenta: np.ndarray) -> dict[str, np.ndarray]:
    """Invariant masses (N,) of the reconstructed systems, see :data:`SYSTEMS`."""
    return {name: invariant_mass(p) for name, p in system_momenta(momenta).items()}


def classifier_observables(momenta: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The 27 observables of the method paper (Sec. 4): the 15 physical dimensions, the masses of the
    reconstructed t, t~, W+, W-, b l+, b~ l- systems and their transverse momenta. Returns (names, (N, 27))."""
    from .event_map import PHYSICAL_COLUMNS, PHYSICAL_FEATURES, encode

    physical = encode(momenta).features[:, PHYSICAL_COLUMNS]
    systems = system_momenta(momenta)
    labels = {"t": "t", "tbar": "tbar", "W+": "Wp", "W-": "Wm", "b l+": "blp", "b~ l-": "bbarlm"}
    names = list(PHYSICAL_FEATURES)
    columns = [physical]
    for name, label in labels.items():
        names += [f"m_{label}", f"pt_{label}"]
        columns.append(
            np.stack([invariant_mass(systems[name]), np.hypot(systems[name][:, 1], systems[name][:, 2])], axis=1)
        )
    return names, np.concatenate(columns, axis=1)


def transverse_momentum_columns(names: list[str]) -> list[int]:
    """Indices of the transverse momenta (``pt_*``) among observable ``names``."""
    return [i for i, name in enumerate(names) if name.startswith("pt_")]


def classifier_preprocessing(names: list[str], values: np.ndarray) -> np.ndarray:
    """Classifier inputs: every transverse momentum as pT^(-1/3) (the paper's best choice), the rest unchanged."""
    out = np.array(values, dtype=np.float64, copy=True)
    pt = transverse_momentum_columns(names)
    out[:, pt] = np.cbrt(np.maximum(out[:, pt], 1e-12)) ** -1
    return out
