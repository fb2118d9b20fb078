"""Transverse boosts between the lab and the frame where the six decay products have zero pT.

NLO hvq events carry an extra parton; the network acts on the six decay
products in the frame where their system has no transverse momentum, and the
transformed system is boosted back so that its transverse momentum again
balances the extra partons (exactly, whatever its new energy).
"""

from __future__ import annotations

import numpy as np


def _transverse_boost(momenta: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Boost (N, 6, 4) momenta by the transverse velocity (N, 2) (no z component)."""
    beta2 = np.sum(velocity**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - beta2)
    e = momenta[..., 0]
    pt = momenta[..., 1:3]
    bp = np.einsum("nk,nik->ni", velocity, pt)
    factor = np.where(beta2 > 0, (gamma - 1.0) / np.where(beta2 > 0, beta2, 1.0), 0.0)
    out = momenta.copy()
    out[..., 0] = gamma[:, None] * (e + bp)
    out[..., 1:3] = pt + (factor[:, None] * bp + gamma[:, None] * e)[..., None] * velocity[:, None, :]
    return out


def to_zero_pt_frame(momenta: np.ndarray) -> np.ndarray:
    """Boost each event's six momenta (N, 6, 4) to the frame where their summed pT vanishes."""
    total = momenta.sum(axis=1)
    return _transverse_boost(momenta, -total[:, 1:3] / total[:, :1])


def from_zero_pt_frame(momenta: np.ndarray, target_pt: np.ndarray) -> np.ndarray:
    """Boost zero-pT six-body systems (N, 6, 4) so that their summed pT equals ``target_pt`` (N, 2)."""
    energy = momenta.sum(axis=1)[:, 0]
    # a transverse boost gives the system pT = gamma beta E*: choose beta = pT / sqrt(E*^2 + pT^2)
    velocity = target_pt / np.sqrt(energy**2 + np.sum(target_pt**2, axis=1))[:, None]
    return _transverse_boost(momenta, velocity)
