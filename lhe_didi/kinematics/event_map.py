"""Map between six decay-product four-momenta and the 17-D / 15-D network spaces.

Coordinates (method paper, Sec. 2): each of b, l+, nu, b~, l-, nu~ is described
by (pT, eta, phi). The event is rotated in azimuth so that the reference
particle (l+) has phi = 0, which removes one dimension (18 -> 17). The 17-D
*training* space keeps the redundant (pT, phi) of nu~; the 15-D *physical*
space drops them because transverse-momentum balance fixes them, including the
recoil of extra partons:  p_T(nu~) = -(sum of the other five + extras)_T.

The inverse rebuilds (E, px, py, pz) with fixed external masses, undoes the
rotation and recomputes nu~ from the balance. Everything is float64 and
vectorised over events.

:func:`shape` then applies pT -> pT^(1/3) and phi -> arctanh(phi/pi) before the
standardisation of :class:`lhe_didi.kinematics.representation.Preprocessor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import LEPTON_PLUS, NEUTRINO_BAR
from .observables import as_vectors
from .recoil import from_zero_pt_frame, to_zero_pt_frame

REFERENCE = LEPTON_PLUS  # particle rotated to phi = 0
REDUNDANT = NEUTRINO_BAR  # particle whose (pT, phi) follow from pT balance


def _feature_layout() -> tuple[list[str], list[tuple[int, str]]]:
    names, slots = [], []
    labels = ("b", "lp", "nu", "bbar", "lm", "nubar")
    for particle, label in enumerate(labels):
        for coordinate in ("pt", "eta", "phi"):
            if particle == REFERENCE and coordinate == "phi":
                continue
            names.append(f"{coordinate}_{label}")
            slots.append((particle, coordinate))
    return names, slots


TRAINING_FEATURES, _SLOTS = _feature_layout()
"""Names of the 17 training dimensions, e.g. ``pt_b``, ``eta_lp``, ``phi_nubar``."""

_REDUNDANT_COLUMNS = [i for i, (p, c) in enumerate(_SLOTS) if p == REDUNDANT and c in ("pt", "phi")]
PHYSICAL_COLUMNS = [i for i in range(len(_SLOTS)) if i not in _REDUNDANT_COLUMNS]
"""Indices of the 15 physical dimensions within the 17 training dimensions."""
PHYSICAL_FEATURES = [TRAINING_FEATURES[i] for i in PHYSICAL_COLUMNS]
PT_COLUMNS = [i for i, (_, c) in enumerate(_SLOTS) if c == "pt"]
PHI_COLUMNS = [i for i, (_, c) in enumerate(_SLOTS) if c == "phi"]


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Map angles to (-pi, pi]."""
    return np.pi - np.mod(np.pi - phi, 2.0 * np.pi)


@dataclass
class EncodedEvents:
    """17-D training coordinates (pT, eta, phi; unpreprocessed) plus what the inverse needs."""

    features: np.ndarray  # (N, 17)
    rotation: np.ndarray  # (N,) azimuth of the reference particle in the original frame


def encode(momenta: np.ndarray) -> EncodedEvents:
    """Six four-momenta (N, 6, 4) -> 17-D (pT, eta, phi) coordinates in the rotated frame."""
    p = as_vectors(momenta)
    pt, eta, phi = np.asarray(p.pt), np.asarray(p.eta), np.asarray(p.phi)
    rotation = phi[:, REFERENCE].copy()
    phi = wrap_phi(phi - rotation[:, None])
    phi[:, REFERENCE] = 0.0
    columns = {"pt": pt, "eta": eta, "phi": phi}
    features = np.stack([columns[c][:, particle] for particle, c in _SLOTS], axis=1)
    return EncodedEvents(features=features, rotation=rotation)


NEUTRINO_MODES = ("balance", "boost")


def decode(
    features: np.ndarray,
    rotation: np.ndarray,
    masses: np.ndarray,
    recoil: np.ndarray | None = None,
    neutrino: str = "balance",
) -> np.ndarray:
    """17-D or 15-D coordinates -> six four-momenta (N, 6, 4) in the original frame.

    ``masses`` (N, 6) are the external masses; ``recoil`` (N, 2) is the summed
    transverse momentum of extra partons in the original frame (zero at LO).
    The result always balances the recoil in pT:

    * ``neutrino="balance"`` (15 or 17 columns): nu~ (pT, phi) are recomputed from
      the balance (the method paper's choice);
    * ``neutrino="boost"`` (17 columns): nu~ keeps its own (pT, phi) and the whole
      six-body system is boosted transversely to balance, which leaves every
      invariant mass (m_t, m_W, m_bl, ...) unchanged.
    """
    if neutrino not in NEUTRINO_MODES:
        raise ValueError(f"neutrino must be one of {NEUTRINO_MODES}")
    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    if neutrino == "boost":
        if features.shape[1] != len(_SLOTS):
            raise ValueError("neutrino='boost' needs all 17 coordinates")
        momenta = _momenta(features, rotation, masses, balance=None)
        target = np.zeros((n, 2)) if recoil is None else -np.asarray(recoil, dtype=np.float64)
        return from_zero_pt_frame(to_zero_pt_frame(momenta), target)
    recoil = np.zeros((n, 2)) if recoil is None else np.asarray(recoil, dtype=np.float64)
    if features.shape[1] == len(PHYSICAL_COLUMNS):
        full = np.zeros((n, len(_SLOTS)))
        full[:, PHYSICAL_COLUMNS] = features
        features = full
    elif features.shape[1] != len(_SLOTS):
        raise ValueError(f"expected 15 or 17 columns, got {features.shape[1]}")
    return _momenta(features, rotation, masses, balance=recoil)


def _momenta(features, rotation, masses, balance):
    """Four-momenta from 17 coordinates; with ``balance`` (N, 2) nu~ (pT, phi) come from pT balance."""
    n = len(features)
    pt, eta, phi = np.zeros((n, 6)), np.zeros((n, 6)), np.zeros((n, 6))
    target = {"pt": pt, "eta": eta, "phi": phi}
    for column, (particle, coordinate) in enumerate(_SLOTS):
        target[coordinate][:, particle] = features[:, column]
    phi = phi + np.asarray(rotation, dtype=np.float64)[:, None]
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    if balance is not None:
        others = [i for i in range(6) if i != REDUNDANT]
        px[:, REDUNDANT] = -(px[:, others].sum(axis=1) + balance[:, 0])
        py[:, REDUNDANT] = -(py[:, others].sum(axis=1) + balance[:, 1])
        pt[:, REDUNDANT] = np.hypot(px[:, REDUNDANT], py[:, REDUNDANT])
    pz = pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + np.asarray(masses, dtype=np.float64) ** 2)
    return np.stack([energy, px, py, pz], axis=-1)


PHI_LIMIT = 1.0 - 1e-15  # |phi/pi| is clipped below 1 so that arctanh stays finite at phi = pi


def shape(features: np.ndarray) -> np.ndarray:
    """Non-linear preprocessing of the 17 coordinates: pT^(1/3) and arctanh(phi/pi)."""
    out = np.array(features, dtype=np.float64, copy=True)
    out[:, PT_COLUMNS] = np.cbrt(out[:, PT_COLUMNS])
    out[:, PHI_COLUMNS] = np.arctanh(np.clip(out[:, PHI_COLUMNS] / np.pi, -PHI_LIMIT, PHI_LIMIT))
    return out


def unshape(shaped: np.ndarray) -> np.ndarray:
    """Invert :func:`shape`; negative cube roots map to negative pT (caught by physicality checks)."""
    out = np.array(shaped, dtype=np.float64, copy=True)
    out[:, PT_COLUMNS] = out[:, PT_COLUMNS] ** 3
    out[:, PHI_COLUMNS] = np.pi * np.tanh(out[:, PHI_COLUMNS])
    return out
