"""Multi-channel phase space for p p -> (b l+ nu)(b~ l- nu~), vectorised in numpy.

Every point follows the tree  s^ -> T T~,  T -> b W+,  W+ -> l+ nu  (and
conjugate). Angles are sampled uniformly in each rest frame, so

    dPhi_6 = prod_{5 vertices} |p*| / (16 pi^2 sqrt(s)) dOmega  *  prod_{T, T~, W+, W-} ds / (2 pi).

The four virtualities are sampled from per-channel densities: W+- always from a
Breit-Wigner; each top either from a Breit-Wigner (resonant) or from a power
law (non-resonant), giving channels RR, RN, NR, NN. The channel density entering
the weight is the alpha-weighted sum over channels (multi-channel method,
Kleiss & Pittau 1994), and the alphas are adapted to minimise the variance.
Channels may also draw the b (or b~) direction in its parent's rest frame
peaked along a reference instead of uniformly, as the 1/(p.p_b) propagator of a
g -> b b~ splitting does: a beam (tW-like, or both b quarks from initial-state
splittings), or for the b the direction of the b~ (a final-state g* -> b b~
recoiling against a W+ W- pair).
The parton momentum fractions come from tau = x1 x2 (power law above the
threshold set by the top virtualities) and a uniform rapidity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import B_MASS, TOP_MASS, TOP_WIDTH, W_MASS, W_WIDTH

_SLOTS_T = (0, 1, 2)  # b, l+, nu
_SLOTS_TBAR = (3, 4, 5)  # b~, l-, nu~


@dataclass(frozen=True)
class BreitWigner:
    """Density in s proportional to 1 / ((s - M^2)^2 + M^2 Gamma^2) on [low, high]."""

    mass: float
    width: float

    def _angle(self, s):
        return np.arctan((s - self.mass**2) / (self.mass * self.width))

    def sample(self, u, low, high):
        a, b = self._angle(low), self._angle(high)
        return self.mass**2 + self.mass * self.width * np.tan(a + u * (b - a))

    def density(self, s, low, high):
        mw = self.mass * self.width
        norm = (self._angle(high) - self._angle(low)) / mw
        inside = (s >= low) & (s <= high)
        return np.where(inside, 1.0 / (((s - self.mass**2) ** 2 + mw**2) * norm), 0.0)


@dataclass(frozen=True)
class PowerLaw:
    """Density in s proportional to s^-exponent on [low, high], exponent != 1."""

    exponent: float

    def _primitive(self, s):
        return s ** (1.0 - self.exponent) / (1.0 - self.exponent)

    def sample(self, u, low, high):
        a, b = self._primitive(low), self._primitive(high)
        return ((a + u * (b - a)) * (1.0 - self.exponent)) ** (1.0 / (1.0 - self.exponent))

    def density(self, s, low, high):
        norm = self._primitive(high) - self._primitive(low)
        inside = (s >= low) & (s <= high)
        return np.where(inside, s ** (-self.exponent) / np.where(norm > 0, norm, np.inf), 0.0)


TOP_BW = BreitWigner(TOP_MASS, TOP_WIDTH)
W_BW = BreitWigner(W_MASS, W_WIDTH)
NON_RESONANT = PowerLaw(1.5)
TAU_DENSITY = PowerLaw(1.3)


def boost_to_rest(p: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Momenta (N, 4) seen in the rest frame of ``parent`` (N, 4)."""
    inverse = parent.copy()
    inverse[:, 1:] *= -1.0
    return boost(p, inverse)


def kallen(a, b, c):
    """Kallen function lambda(a, b, c)."""
    return a * a + b * b + c * c - 2.0 * (a * b + a * c + b * c)


def boost(p: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boost momenta (N, 4) from the rest frame of ``parent`` (N, 4) to the frame where parent has its momentum."""
    mass = np.sqrt(np.maximum(parent[:, 0] ** 2 - np.sum(parent[:, 1:] ** 2, axis=1), 1e-300))
    beta = parent[:, 1:] / parent[:, :1]
    gamma = parent[:, 0] / mass
    bp = np.sum(beta * p[:, 1:], axis=1)
    factor = np.where(gamma > 1.0, (gamma - 1.0) / np.maximum(np.sum(beta**2, axis=1), 1e-300), 0.0)
    space = p[:, 1:] + (factor * bp + gamma * p[:, 0])[:, None] * beta
    energy = gamma * (p[:, 0] + bp)
    return np.concatenate([energy[:, None], space], axis=1)


def uniform_directions(u_cos, u_phi) -> np.ndarray:
    """Unit vectors (N, 3) uniform in solid angle."""
    cos = 2.0 * u_cos - 1.0
    sin = np.sqrt(np.maximum(1.0 - cos**2, 0.0))
    phi = 2.0 * np.pi * u_phi
    return np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=1)


def collinear_cos(u, beta):
    """cos(theta) with density proportional to 1 / (1 - beta cos) on [-1, 1] (a t-channel propagator)."""
    ratio = (1.0 - beta) / (1.0 + beta)
    return (1.0 - (1.0 + beta) * ratio**u) / beta


def collinear_solid_angle_factor(cos, beta):
    """4 pi times the solid-angle density of :func:`collinear_cos` (1 for a uniform direction)."""
    return 2.0 * beta / (np.log((1.0 + beta) / (1.0 - beta)) * (1.0 - beta * cos))


def directions_about(axis, cos, u_phi) -> np.ndarray:
    """Unit vectors at polar angle arccos(cos) about unit vectors ``axis`` (N, 3), azimuth 2 pi u_phi."""
    helper = np.where(np.abs(axis[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(axis, e1)
    sin = np.sqrt(np.maximum(1.0 - cos**2, 0.0))
    phi = 2.0 * np.pi * u_phi
    return cos[:, None] * axis + (sin * np.cos(phi))[:, None] * e1 + (sin * np.sin(phi))[:, None] * e2


def rest_frame_momentum(s, m1, m2):
    """|p*| of a two-body decay of mass^2 s into m1, m2."""
    return np.sqrt(np.maximum(kallen(s, m1**2, m2**2), 0.0)) / (2.0 * np.sqrt(s))


def two_body(parent: np.ndarray, s: np.ndarray, m1: np.ndarray, m2: np.ndarray, direction: np.ndarray):
    """Decay ``parent`` (N, 4) of mass^2 s into m1 (along ``direction`` in the rest frame) and m2."""
    momentum = rest_frame_momentum(s, m1, m2)
    k = momentum[:, None] * direction
    p1 = np.concatenate([np.sqrt(momentum**2 + m1**2)[:, None], k], axis=1)
    p2 = np.concatenate([np.sqrt(momentum**2 + m2**2)[:, None], -k], axis=1)
    return boost(p1, parent), boost(p2, parent), momentum


def light_like(p: np.ndarray) -> np.ndarray:
    """Light-like four-vectors (N, 4) along the spatial momenta of ``p`` (N, 4)."""
    return np.concatenate([np.linalg.norm(p[:, 1:], axis=1, keepdims=True), p[:, 1:]], axis=1)


def minkowski_dot(a, b):
    """a.b for (..., 4) four-vectors."""
    return a[..., 0] * b[..., 0] - np.sum(a[..., 1:] * b[..., 1:], axis=-1)


UNIFORM, BEAM_1, BEAM_2, PARTNER_B = 0, 1, 2, 3  # reference a channel draws a b direction along (PARTNER_B: b only)


@dataclass
class Channels:
    """Top-virtuality densities per channel and their adaptive weights alpha."""

    top: list[tuple[object, object]]  # (density of T, density of T~) per channel
    alpha: np.ndarray
    # per channel: reference (UNIFORM, BEAM_1, BEAM_2, or for the b PARTNER_B) of the b (in T) and the b~ (in T~)
    collinear: list[tuple[int, int]] | None = None
    top_range: tuple[float, float] | None = None  # fixed (low, high) for s_T, e.g. hvq's window

    @classmethod
    def offshell(cls, top: BreitWigner = TOP_BW) -> Channels:
        """RR, RN, NR, NN; tW-like channels (one top resonant, the other b quark collinear to a beam); and
        doubly non-resonant W+ W- b b~ channels with both b quarks from initial-state splittings (collinear
        to opposite beams) or from one g* -> b b~ (the b collinear to the b~, the b~ uniform or collinear to a beam
        as for a g* emitted by an incoming quark)."""
        n = NON_RESONANT
        pairs = [(top, top), (top, n), (n, top), (n, n), (top, n), (top, n), (n, top), (n, top)] + [(n, n)] * 5
        collinear = [(UNIFORM, UNIFORM)] * 4 + [
            (UNIFORM, BEAM_1),
            (UNIFORM, BEAM_2),
            (BEAM_1, UNIFORM),
            (BEAM_2, UNIFORM),
            (BEAM_1, BEAM_2),
            (BEAM_2, BEAM_1),
            (PARTNER_B, UNIFORM),
            (PARTNER_B, BEAM_1),
            (PARTNER_B, BEAM_2),
        ]
        alpha = np.array([0.6, 0.05, 0.05, 0.1, 0.05, 0.05, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02])
        return cls(top=pairs, alpha=alpha / alpha.sum(), collinear=collinear)

    def reference_of(self, c: int, side: int) -> int:
        """Reference that channel ``c`` aligns the b (side 0) or b~ (side 1) with; UNIFORM for none."""
        return UNIFORM if self.collinear is None else self.collinear[c][side]

    @classmethod
    def onshell(cls, top: BreitWigner = TOP_BW) -> Channels:
        """Only RR, with hvq's virtuality window m_W^2 < m_t*^2 < 2 m_t^2."""
        return cls(top=[(top, top)], alpha=np.array([1.0]), top_range=(W_MASS**2, 2.0 * top.mass**2))


@dataclass
class PhaseSpacePoints:
    """A batch of sampled points: momenta and everything the weight needs."""

    x1: np.ndarray
    x2: np.ndarray
    incoming: np.ndarray  # (N, 2, 4): parton 1 along +z, parton 2 along -z
    final: np.ndarray  # (N, 6, 4) slots b, l+, nu, b~, l-, nu~
    jacobian: np.ndarray  # (N,) dx1 dx2 dPhi_6 / (sampling density)
    channel_densities: np.ndarray  # (N, C) top-virtuality densities g_c of every channel
    valid: np.ndarray  # (N,) False where a sampled configuration is kinematically closed


class PhaseSpace:
    """Samples :class:`PhaseSpacePoints` for collider energy ``sqrt_s`` with the given channels."""

    def __init__(self, sqrt_s: float, channels: Channels, w_density: BreitWigner = W_BW):
        self.sqrt_s = sqrt_s
        self.channels = channels
        self.w_density = w_density

    def _top_bounds(self, s_w):
        low = (B_MASS + np.sqrt(s_w)) ** 2
        high = np.full_like(s_w, self.sqrt_s**2)
        if self.channels.top_range is not None:
            low = np.maximum(low, self.channels.top_range[0])
            high = np.minimum(high, self.channels.top_range[1])
        return low, high

    @staticmethod
    def _beams(s_hat):
        """Incoming parton momenta (N, 4) along +z and -z in the partonic centre-of-mass frame."""
        half = 0.5 * np.sqrt(s_hat)
        zero = np.zeros_like(half)
        return np.stack([half, zero, zero, half], axis=1), np.stack([half, zero, zero, -half], axis=1)

    def _b_directions(self, channel, side, parent, s_parent, m_w, references, u_cos, u_phi):
        """Rest-frame direction of the b (side 0) or b~ (side 1): uniform, or collinear to one of the
        light-like ``references`` (reference id -> (N, 4))."""
        directions = uniform_directions(u_cos, u_phi)
        beta = self._b_velocity(s_parent, m_w)
        for c in range(len(self.channels.alpha)):
            reference = self.channels.reference_of(c, side)
            mask = channel == c
            if reference == UNIFORM or not mask.any():
                continue
            axis = boost_to_rest(references[reference][mask], parent[mask])[:, 1:]
            axis /= np.linalg.norm(axis, axis=1, keepdims=True)
            cos = collinear_cos(u_cos[mask], beta[mask])
            directions[mask] = directions_about(axis, cos, u_phi[mask])
        return directions

    @staticmethod
    def _b_velocity(s_parent, m_w):
        momentum = rest_frame_momentum(s_parent, np.full_like(s_parent, B_MASS), m_w)
        return momentum / np.sqrt(momentum**2 + B_MASS**2)

    @staticmethod
    def _angular_factor(b, parent, beam):
        """4 pi x solid-angle density of the b direction under the channel collinear to the light-like ``beam``."""
        mass = np.sqrt(np.maximum(minkowski_dot(parent, parent), 1e-300))
        e_b = minkowski_dot(b, parent) / mass
        e_beam = minkowski_dot(beam, parent) / mass
        p_b = np.sqrt(np.maximum(e_b**2 - B_MASS**2, 1e-300))
        with np.errstate(divide="ignore", invalid="ignore"):  # closed configurations are masked later
            beta = p_b / e_b
            cos = np.clip((e_b * e_beam - minkowski_dot(b, beam)) / (p_b * e_beam), -1.0, 1.0)
            return collinear_solid_angle_factor(cos, beta)

    def sample(self, n: int, rng: np.random.Generator) -> PhaseSpacePoints:
        """Draw ``n`` points (channel chosen per point with probability alpha)."""
        s_total = self.sqrt_s**2
        u = rng.random((n, 16))
        channel = rng.choice(len(self.channels.alpha), size=n, p=self.channels.alpha)
        # W virtualities
        s_wp = self.w_density.sample(u[:, 0], 0.0, s_total)
        s_wm = self.w_density.sample(u[:, 1], 0.0, s_total)
        low_t, high_t = self._top_bounds(s_wp)
        low_tb, high_tb = self._top_bounds(s_wm)
        s_t, s_tb = np.empty(n), np.empty(n)
        for c, (density_t, density_tb) in enumerate(self.channels.top):
            mask = channel == c
            s_t[mask] = density_t.sample(u[mask, 2], low_t[mask], high_t[mask])
            s_tb[mask] = density_tb.sample(u[mask, 3], low_tb[mask], high_tb[mask])
        valid = (low_t < high_t) & (low_tb < high_tb)
        m_t, m_tb = np.sqrt(s_t), np.sqrt(s_tb)
        # momentum fractions
        tau_low = np.minimum((m_t + m_tb) ** 2 / s_total, 1.0)
        valid &= tau_low < 1.0
        tau = TAU_DENSITY.sample(u[:, 4], tau_low, 1.0)
        half_log = -0.5 * np.log(tau)
        y = -half_log + 2.0 * half_log * u[:, 5]
        x1, x2 = np.sqrt(tau) * np.exp(y), np.sqrt(tau) * np.exp(-y)
        s_hat = tau * s_total
        # decays, in the partonic centre-of-mass frame first
        rest = np.zeros((n, 4))
        rest[:, 0] = np.sqrt(s_hat)
        top, topbar, q0 = two_body(rest, s_hat, m_t, m_tb, uniform_directions(u[:, 6], u[:, 7]))
        beams = self._beams(s_hat)
        m_b, zero = np.full(n, B_MASS), np.zeros(n)
        references = {BEAM_1: beams[0], BEAM_2: beams[1]}
        bb_direction = self._b_directions(channel, 1, topbar, s_tb, np.sqrt(s_wm), references, u[:, 12], u[:, 13])
        bb, wm, q3 = two_body(topbar, s_tb, m_b, np.sqrt(s_wm), bb_direction)
        lm, nub, q4 = two_body(wm, s_wm, zero, zero, uniform_directions(u[:, 14], u[:, 15]))
        b_references = {**references, PARTNER_B: light_like(bb)}
        b_direction = self._b_directions(channel, 0, top, s_t, np.sqrt(s_wp), b_references, u[:, 8], u[:, 9])
        b, wp, q1 = two_body(top, s_t, m_b, np.sqrt(s_wp), b_direction)
        lp, nu, q2 = two_body(wp, s_wp, zero, zero, uniform_directions(u[:, 10], u[:, 11]))
        final = np.stack([b, lp, nu, bb, lm, nub], axis=1)
        # boost along z to the lab frame
        ch, sh = np.cosh(y), np.sinh(y)
        e, pz = final[..., 0].copy(), final[..., 3].copy()
        final[..., 0] = ch[:, None] * e + sh[:, None] * pz
        final[..., 3] = sh[:, None] * e + ch[:, None] * pz
        incoming = np.zeros((n, 2, 4))
        incoming[:, 0, 0] = incoming[:, 0, 3] = 0.5 * self.sqrt_s * x1
        incoming[:, 1, 0] = 0.5 * self.sqrt_s * x2
        incoming[:, 1, 3] = -incoming[:, 1, 0]

        two_body_factor = 1.0
        for q, s in ((q0, s_hat), (q1, s_t), (q2, s_wp), (q3, s_tb), (q4, s_wm)):
            two_body_factor = two_body_factor * q / (4.0 * np.pi * np.sqrt(s))  # |p*|/(16 pi^2 sqrt s) * 4 pi
        w_density = self.w_density.density(s_wp, 0.0, s_total) * self.w_density.density(s_wm, 0.0, s_total)
        angular = {
            (side, reference): self._angular_factor(b if side == 0 else bb, top if side == 0 else topbar, vector)
            for side, side_references in ((0, b_references), (1, references))
            for reference, vector in side_references.items()
        }
        channel_densities = np.stack(
            [
                density_t.density(s_t, low_t, high_t)
                * density_tb.density(s_tb, low_tb, high_tb)
                * angular.get((0, self.channels.reference_of(c, 0)), 1.0)
                * angular.get((1, self.channels.reference_of(c, 1)), 1.0)
                for c, (density_t, density_tb) in enumerate(self.channels.top)
            ],
            axis=1,
        )
        mixture = channel_densities @ self.channels.alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            x_density = TAU_DENSITY.density(tau, tau_low, 1.0) / (2.0 * half_log)  # d tau dy
            jacobian = two_body_factor / ((2.0 * np.pi) ** 4 * w_density * mixture * x_density)
        valid &= np.isfinite(jacobian) & (jacobian > 0) & np.all(np.isfinite(final), axis=(1, 2))
        jacobian = np.where(valid, jacobian, 0.0)
        return PhaseSpacePoints(x1, x2, incoming, final, jacobian, channel_densities, valid)
