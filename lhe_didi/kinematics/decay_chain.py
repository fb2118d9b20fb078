"""Decay-chain coordinates of the six decay products: t -> b W+(-> l+ nu), t~ -> b~ W-(-> l- nu~).

Per side (t = b + l+ + nu, W+ = l+ + nu; likewise for t~) nine numbers describe three momenta
of fixed external mass: the top's (pT, y, phi, m_t), the W mass m_W, the W direction in the top
rest frame (cos theta_W, phi_W) and the lepton direction in the W rest frame (cos theta_l, phi_l);
the momentum magnitudes follow from two-body kinematics. Frames: the W angles are measured about
the top's flight direction with the beam axis fixing phi = 0, the lepton angles about the W
direction (in the top rest frame) with the top's flight direction fixing phi = 0; the W rest frame
is reached from the top rest frame.

The map is a bijection for every event, resonant or not: the labels only name which particles are
grouped, so non-resonant (single-top-like, off-shell) configurations are as well described as
tt~ ones. The resonance masses become coordinates of their own, so the network sees the sharp
Breit-Wigner peaks as smooth densities after :func:`shape` (asinh((m - M) / s)), instead of having
to reproduce them through a precise combination of 9 particle coordinates; :func:`shape` also sends
the two-body thresholds (m_W > 0, m_t > m_W + m_b) to -infinity, so every network output is a
kinematically allowed decay chain.

Events are taken in the frame where the six momenta have zero summed pT, so the t~ has pT = pT_t and
phi = phi_t + pi; with the global azimuth (phi_t, returned as ``rotation``) 15 coordinates remain.

Beam-pole variant (``b_direction="beam-poles"``): the b direction in the top rest frame is given instead in
bipolar coordinates about d+ and d-, the directions of the two incoming beams seen from the top rest
frame: rho_b = log(sin(theta+/2) / sin(theta-/2)), with theta+- the angles to d+-, and psi_b, the
argument of the Moebius map w = (z - z+) / (z - z-) of the stereographic coordinate z (|w| = e^rho_b).
A b quark collinear with either beam, the initial-state g -> b b~ splitting of single-top-like
configurations, lies near a pole there: rho_b -> -infinity (along d+) or +infinity (along d-), so the
collinear peak becomes a resolved logarithmic tail instead of a spot of ~0.03 rad at a place set by
the top's boost. The map is a bijection of the sphere without the two poles.
"""

from __future__ import annotations

import numpy as np

from ..constants import (
    B_BAR,
    B_MASS,
    LEPTON_MINUS,
    LEPTON_PLUS,
    NEUTRINO,
    NEUTRINO_BAR,
    TOP_MASS,
    TOP_WIDTH,
    W_MASS,
    W_WIDTH,
    B,
)
from .observables import as_vectors, invariant_mass

SIDE_COORDINATES = ("m_t", "m_W", "costheta_W", "phi_W", "costheta_l", "phi_l")
BEAM_SIDE_COORDINATES = ("m_t", "m_W", "rho_b", "psi_b", "costheta_l", "phi_l")
B_DIRECTIONS = {"helicity": SIDE_COORDINATES, "beam-poles": BEAM_SIDE_COORDINATES}


def features(b_direction: str = "helicity") -> list[str]:
    """The 15 coordinate names for ``b_direction``, e.g. ``m_t_top``, ``costheta_l_tbar`` (unshaped: GeV, radians)."""
    side = B_DIRECTIONS[b_direction]
    return ["pt_t", "y_t", *(f"{c}_top" for c in side), "y_tbar", *(f"{c}_tbar" for c in side)]


FEATURES = features("helicity")
BEAM_FEATURES = features("beam-poles")

_SIDES = ((B, LEPTON_PLUS, NEUTRINO), (B_BAR, LEPTON_MINUS, NEUTRINO_BAR))
_BEAM = np.array([0.0, 0.0, 1.0])
_RESONANCES = {"m_t": (TOP_MASS, TOP_WIDTH), "m_W": (W_MASS, W_WIDTH)}
BREIT_WIGNER_SCALES = {"width": 1.0, "half-width": 0.5}
"""The scale s of the mass flattening asinh((m - M) / s) in units of the width: ``half-width`` (s = Gamma / 2, the
Breit-Wigner's half width at half maximum; a Breit-Wigner peak becomes the smooth density
1 / (pi cosh u) of u) or ``width`` (s = Gamma; the peak stays twice as sharp,
2 cosh u / (pi (4 sinh^2 u + 1)))."""


def _column(name: str, b_direction: str = "helicity") -> int:
    return features(b_direction).index(name)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _axes(axis: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-handed frame with z along ``axis`` and x in the plane of ``axis`` and ``reference``."""
    z = _unit(axis)
    y = _unit(np.cross(np.broadcast_to(reference, z.shape), z))
    return np.cross(y, z), y, z


def _angles(momentum: np.ndarray, axes) -> tuple[np.ndarray, np.ndarray]:
    x, y, z = axes
    p = momentum[:, 1:]
    return np.sum(p * z, axis=1) / np.linalg.norm(p, axis=1), np.arctan2(np.sum(p * y, axis=1), np.sum(p * x, axis=1))


def _direction(costheta, phi, axes) -> np.ndarray:
    x, y, z = axes
    sintheta = np.sqrt(np.clip(1.0 - costheta**2, 0.0, None))
    return (sintheta * np.cos(phi))[:, None] * x + (sintheta * np.sin(phi))[:, None] * y + costheta[:, None] * z


def _four(vectors) -> np.ndarray:
    return np.stack(
        [np.asarray(vectors.E), np.asarray(vectors.px), np.asarray(vectors.py), np.asarray(vectors.pz)], axis=-1
    )


def _rest_frame(momentum: np.ndarray, of: np.ndarray) -> np.ndarray:
    return _four(as_vectors(momentum).boostCM_of_p4(as_vectors(of)))


def _lab_frame(momentum: np.ndarray, of: np.ndarray) -> np.ndarray:
    return _four(as_vectors(momentum).boost_p4(as_vectors(of)))


def two_body_momentum(mass: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Daughter momentum in the rest frame of ``mass`` -> m1 + m2; NaN below threshold."""
    lam = (mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)
    with np.errstate(invalid="ignore"):
        return np.where(mass >= m1 + m2, np.sqrt(np.maximum(lam, 0.0)) / (2.0 * mass), np.nan)


def _beam_poles(top: np.ndarray):
    """Stereographic frame (e1, e2, e3) and pole coordinate t = tan(alpha/2) of the two beam directions
    d+- in the top rest frame (2 alpha the angle between them): d+- = (+-sin alpha, 0, cos alpha),
    stereographically projected from -e3 to z = +-t."""
    ones = np.ones(len(top))
    beams = [
        _unit(_rest_frame(np.stack([ones, 0 * ones, 0 * ones, sign * ones], axis=1), top)[:, 1:])
        for sign in (1.0, -1.0)
    ]
    difference, total = beams[0] - beams[1], beams[0] + beams[1]
    e1, e3 = _unit(difference), _unit(total)
    half_sin, half_cos = 0.5 * np.linalg.norm(difference, axis=1), 0.5 * np.linalg.norm(total, axis=1)
    return (e1, np.cross(e3, e1), e3), half_sin / (1.0 + half_cos)


def _to_bipolar(direction: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in the top rest frame -> (rho, psi) about the beam poles, w = (z - t) / (z + t)."""
    (e1, e2, e3), t = _beam_poles(top)
    planar = np.sum(direction * e1, axis=1) + 1j * np.sum(direction * e2, axis=1)
    lifted = t * 0.5 * np.sum((direction + e3) ** 2, axis=1)  # t (1 + n.e3), exact to O(delta^2) near n = -e3
    numerator, denominator = planar - lifted, planar + lifted
    defined = np.abs(denominator) > 0  # zero at n = -e3 (0 / 0, limit w = 1) and exactly on the pole d-
    w = np.where(defined, numerator / np.where(defined, denominator, 1.0), 1.0)
    with np.errstate(divide="ignore"):
        return np.log(np.abs(w)), np.angle(w)


def _from_bipolar(rho: np.ndarray, psi: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_to_bipolar`: z = t (1 + w) / (1 - w), written without dividing by 1 - w."""
    (e1, e2, e3), t = _beam_poles(top)
    w = np.exp(rho + 1j * psi)
    below, above = np.abs(1.0 - w) ** 2, (t * np.abs(1.0 + w)) ** 2
    planar = 2.0 * t * (1.0 + w) * (1.0 - np.conj(w)) / (below + above)
    return planar.real[:, None] * e1 + planar.imag[:, None] * e2 + ((below - above) / (below + above))[:, None] * e3


def _encode_side(b, lepton, neutrino, b_direction):
    w = lepton + neutrino
    top = b + w
    w_star = _rest_frame(w, top)
    top_axes = _axes(top[:, 1:], _BEAM)
    if b_direction == "beam-poles":
        direction = _to_bipolar(-_unit(w_star[:, 1:]), top)
    else:
        direction = _angles(w_star, top_axes)
    lepton_star = _rest_frame(_rest_frame(lepton, top), w_star)
    costheta_l, phi_l = _angles(lepton_star, _axes(w_star[:, 1:], top_axes[2]))
    return top, [invariant_mass(top), invariant_mass(w), *direction, costheta_l, phi_l]


def encode(momenta: np.ndarray, b_direction: str = "helicity") -> tuple[np.ndarray, np.ndarray]:
    """Six four-momenta (N, 6, 4) in their zero-pT frame -> 15 coordinates (N, 15) for ``b_direction``
    and the azimuth phi_t (N,)."""
    momenta = np.asarray(momenta, dtype=np.float64)
    top, top_side = _encode_side(*(momenta[:, i] for i in _SIDES[0]), b_direction)
    tbar, tbar_side = _encode_side(*(momenta[:, i] for i in _SIDES[1]), b_direction)
    pt = np.hypot(top[:, 1], top[:, 2])
    rapidity = [0.5 * np.log((p[:, 0] + p[:, 3]) / (p[:, 0] - p[:, 3])) for p in (top, tbar)]
    features = np.stack([pt, rapidity[0], *top_side, rapidity[1], *tbar_side], axis=1)
    return features, np.arctan2(top[:, 2], top[:, 1])


def _decode_side(pt, phi, rapidity, coordinates, masses, b_direction):
    m_top, m_w, first, second, costheta_l, phi_l = coordinates
    m_b, m_lepton, m_neutrino = masses
    transverse_mass = np.sqrt(m_top**2 + pt**2)
    top = np.stack(
        [transverse_mass * np.cosh(rapidity), pt * np.cos(phi), pt * np.sin(phi), transverse_mass * np.sinh(rapidity)],
        axis=1,
    )
    top_axes = _axes(top[:, 1:], _BEAM)
    if b_direction == "beam-poles":
        w_direction = -_from_bipolar(first, second, top)
    else:
        w_direction = _direction(first, second, top_axes)
    p_w = two_body_momentum(m_top, m_w, m_b)[:, None] * w_direction
    w_star = np.concatenate([np.sqrt(np.sum(p_w**2, axis=1) + m_w**2)[:, None], p_w], axis=1)
    b_star = np.concatenate([np.sqrt(np.sum(p_w**2, axis=1) + m_b**2)[:, None], -p_w], axis=1)
    p_l = two_body_momentum(m_w, m_lepton, m_neutrino)[:, None] * _direction(
        costheta_l, phi_l, _axes(w_direction, top_axes[2])
    )
    lepton = np.concatenate([np.sqrt(np.sum(p_l**2, axis=1) + m_lepton**2)[:, None], p_l], axis=1)
    neutrino = np.concatenate([np.sqrt(np.sum(p_l**2, axis=1) + m_neutrino**2)[:, None], -p_l], axis=1)
    return (
        _lab_frame(b_star, top),
        _lab_frame(_lab_frame(lepton, w_star), top),
        _lab_frame(_lab_frame(neutrino, w_star), top),
    )


def decode(features: np.ndarray, rotation: np.ndarray, masses: np.ndarray, b_direction: str = "helicity") -> np.ndarray:
    """15 coordinates (N, 15) for ``b_direction`` and azimuth phi_t -> six four-momenta (N, 6, 4) with zero summed pT.

    ``masses`` (N, 6) are the external masses. Coordinates below a two-body threshold
    (m_t < m_W + m_b, m_W < m_l + m_nu) give NaN momenta: callers flag them as unphysical.
    """
    values = np.asarray(features, dtype=np.float64)
    rotation = np.asarray(rotation, dtype=np.float64)
    masses = np.asarray(masses, dtype=np.float64)
    pt = values[:, _column("pt_t")]
    out = np.empty((len(features), 6, 4))
    sides = (("top", "y_t", rotation), ("tbar", "y_tbar", rotation + np.pi))
    for (label, rapidity, azimuth), slots in zip(sides, _SIDES, strict=False):
        coordinates = [values[:, _column(f"{c}_{label}", b_direction)] for c in B_DIRECTIONS[b_direction]]
        decayed = _decode_side(
            pt, azimuth, values[:, _column(rapidity)], coordinates, [masses[:, i] for i in slots], b_direction
        )
        for slot, momentum in zip(slots, decayed, strict=False):
            out[:, slot] = momentum
    return out


def _angle_columns(b_direction: str) -> list[int]:
    return [i for i, name in enumerate(features(b_direction)) if name.startswith(("phi_", "psi_"))]


def _cosine_columns(b_direction: str) -> list[int]:
    return [i for i, name in enumerate(features(b_direction)) if name.startswith("costheta_")]


_LIMIT = 1.0 - 1e-15  # |cos theta|, |phi/pi| are clipped below 1 so that arctanh stays finite
_SMALLEST = 1e-300  # floor of the distance to a threshold (events exactly at it, massless-b files)


def _mass_to_line(mass, resonance, threshold, scale="width"):
    """m above ``threshold`` -> the real line: asinh((m - M) / s) (s = Gamma x ``BREIT_WIGNER_SCALES[scale]``; smooth
    over the Breit-Wigner peak, logarithmic in the tails) with the threshold sent to -infinity by an inverse
    softplus."""
    pole, width = resonance
    s = width * BREIT_WIGNER_SCALES[scale]
    u, low = np.arcsinh((mass - pole) / s), np.arcsinh((threshold - pole) / s)
    return low + np.log(np.maximum(np.expm1(u - low), _SMALLEST))


def _line_to_mass(value, resonance, threshold, scale="width"):
    """Inverse of :func:`_mass_to_line`: every real value gives a mass above the threshold."""
    pole, width = resonance
    s = width * BREIT_WIGNER_SCALES[scale]
    low = np.arcsinh((threshold - pole) / s)
    return pole + s * np.sinh(low + np.logaddexp(0.0, value - low))


def shape(
    features: np.ndarray, b_direction: str = "helicity", breit_wigner_scale: str = "width", top: tuple | None = None
) -> np.ndarray:
    """Non-linear preprocessing: pT^(1/3); the masses mapped to the real line above their thresholds
    (m_W > 0, m_t > m_W + m_b with m_b = 4.75 GeV) with the Breit-Wigner peaks flattened on the scale
    ``breit_wigner_scale`` (:data:`BREIT_WIGNER_SCALES`), see :func:`_mass_to_line`; arctanh(cos theta) and
    arctanh(phi/pi) (psi_b likewise; rho_b is already on the line). ``top``: the top (pole, width), scalars or
    one per event (mass-conditional models, :mod:`lhe_didi.conditions`); default 172.5 / 1.453 GeV."""
    top = _RESONANCES["m_t"] if top is None else top
    out = np.array(features, dtype=np.float64, copy=True)
    out[:, _column("pt_t")] = np.cbrt(out[:, _column("pt_t")])
    for side in ("top", "tbar"):
        m_top, m_w = features[:, _column(f"m_t_{side}")], features[:, _column(f"m_W_{side}")]
        out[:, _column(f"m_W_{side}")] = _mass_to_line(m_w, _RESONANCES["m_W"], 0.0, breit_wigner_scale)
        out[:, _column(f"m_t_{side}")] = _mass_to_line(m_top, top, m_w + B_MASS, breit_wigner_scale)
    cosines, angles = _cosine_columns(b_direction), _angle_columns(b_direction)
    out[:, cosines] = np.arctanh(np.clip(out[:, cosines], -_LIMIT, _LIMIT))
    out[:, angles] = np.arctanh(np.clip(out[:, angles] / np.pi, -_LIMIT, _LIMIT))
    return out


def unshape(
    shaped: np.ndarray, b_direction: str = "helicity", breit_wigner_scale: str = "width", top: tuple | None = None
) -> np.ndarray:
    """Invert :func:`shape` (same ``top``); any real input gives masses above their thresholds."""
    top = _RESONANCES["m_t"] if top is None else top
    out = np.array(shaped, dtype=np.float64, copy=True)
    out[:, _column("pt_t")] = out[:, _column("pt_t")] ** 3
    for side in ("top", "tbar"):
        m_w = _line_to_mass(shaped[:, _column(f"m_W_{side}")], _RESONANCES["m_W"], 0.0, breit_wigner_scale)
        out[:, _column(f"m_W_{side}")] = m_w
        out[:, _column(f"m_t_{side}")] = _line_to_mass(
            shaped[:, _column(f"m_t_{side}")], top, m_w + B_MASS, breit_wigner_scale
        )
    cosines, angles = _cosine_columns(b_direction), _angle_columns(b_direction)
    out[:, cosines] = np.tanh(out[:, cosines])
    out[:, angles] = np.pi * np.tanh(out[:, angles])
    return out
