"""POWHEG hvq at LO: on-shell t t~ production, then hvq's own decay generator (POWHEG-BOX-V2 ``hvq/ttdec.f``).

Written from the algorithm's description, not from the Fortran. Per production event:

1. on-shell t t~ at the pole mass from the Born |M|^2 (weight and sigma never depend on the decays);
2. top virtualities m*^2 and W virtualities w*^2 drawn from Cauchy laws in m^2, kept only inside hvq's
   window m_W^2 < m*^2 < 2 m_t^2, 0 < w*^2 < m*^2, sqrt(w*) + m_b < m* (any failure redraws all four);
3. reshuffled in the t t~ rest frame: each top keeps its three-momentum k, E = sqrt(m*^2 + k^2); the
   momentum fractions scale by r = (E+ + E-) / (2 E0), so the t t~ rapidity is kept;
4. kept with probability min(c / 2, 1), c = the phase-space and PDF factor of :func:`reshuffle_factor`;
5. isotropic decays t -> b W, W -> l nu;
6. spin correlations by hit and miss with R / 8, R = :meth:`HvqDecays.spin_ratio` (the doubly-resonant
   |M|^2 over its decay-angle average); a miss restarts at step 2.

Because the decay matrix element's dependence on the virtualities is divided out in step 6 (there is
no Gamma(m*) ~ m*^3 factor), hvq's top line shape is a plain Breit-Wigner in m^2 reshaped only by
step 4, and its low-mass tail is several times the doubly-resonant one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..constants import B_MASS
from ..errors import LheDidiError
from ..io.events import EventBatch
from . import parameters
from .generator import INITIAL_STATES as REFERENCE_INITIAL_STATES
from .generator import GenerationStats, collect_run, lo_events
from .matrix_elements import MatrixElements
from .pdf import FixedScalePdf
from .phase_space import TAU_DENSITY, minkowski_dot, rest_frame_momentum, two_body, uniform_directions

HVQ_W_LEPTONIC_BR = 0.108  # hvq's BR(W -> l nu) per lepton flavour; sigma = sigma(t t~) x BR^2
DECAY_PDF_SCALE = math.sqrt(5.0)  # hvq evaluates the reshuffling's PDF ratio at mu^2 = 5 GeV^2
SPIN_BOUND = 8.0  # hit and miss on R / 8; R above it is accepted and counted
MAX_ROUNDS = 100_000

# (pdg parton 1, pdg parton 2, Born / matrix-element channel, partons swapped w.r.t. the ME's order). As hvq, five
# flavours in the initial state: b b~ -> t t~ (0.13% of sigma here) is the QCD s-channel of d d~ -> t t~, whose
# doubly-resonant |M|^2 serves for its spin correlations.
INITIAL_STATES = [*REFERENCE_INITIAL_STATES, (5, -5, "dd~", False), (-5, 5, "dd~", True)]
INITIAL_PDG = np.array([state[:2] for state in INITIAL_STATES])  # (S, 2) PDG ids of partons 1 and 2


def born_qqbar(s, t, u, mass, alpha_s):
    """Spin- and colour-averaged |M|^2 of q q~ -> t t~ (Combridge 1979)."""
    m2 = mass**2
    g4 = (4.0 * np.pi * alpha_s) ** 2
    return g4 * 4.0 / 9.0 * ((m2 - t) ** 2 + (m2 - u) ** 2 + 2.0 * m2 * s) / s**2


def born_gg(s, t, u, mass, alpha_s):
    """Spin- and colour-averaged |M|^2 of g g -> t t~ (Combridge 1979; Ellis, Stirling, Webber (10.12))."""
    m2 = mass**2
    g4 = (4.0 * np.pi * alpha_s) ** 2
    tau1, tau2, rho = (m2 - t) / s, (m2 - u) / s, 4.0 * m2 / s
    return g4 * (1.0 / (6.0 * tau1 * tau2) - 3.0 / 8.0) * (tau1**2 + tau2**2 + rho - rho**2 / (4.0 * tau1 * tau2))


def in_window(s_top, s_w, top_mass, w_mass, b_mass=B_MASS):
    """hvq's virtuality window on one side: m_W^2 < m*^2 < 2 m_t^2, 0 < w*^2 < m*^2, sqrt(w*^2) + m_b < m*."""
    return (
        (s_top > w_mass**2)
        & (s_top < 2.0 * top_mass**2)
        & (s_w > 0.0)
        & (s_w < s_top)
        & (np.sqrt(np.maximum(s_w, 0.0)) + b_mass < np.sqrt(np.maximum(s_top, 0.0)))
    )


def cauchy_in_m2(u, mass, width):
    """m^2 from a fixed-width Breit-Wigner in m^2 over the whole real line (u uniform in (0, 1))."""
    return mass**2 + mass * width * np.tan(np.pi * (u - 0.5))


def reshuffle(s_hat, top_mass, s_top, s_topbar):
    """Energies E+, E-, on-shell energy E0 and factor r of the reshuffling at fixed |k| in the t t~ frame."""
    e0 = 0.5 * np.sqrt(s_hat)
    k2 = e0**2 - top_mass**2
    e_plus, e_minus = np.sqrt(s_top + k2), np.sqrt(s_topbar + k2)
    return e_plus, e_minus, e0, (e_plus + e_minus) / (2.0 * e0)


def w_coupling_squared() -> float:
    """g_W^2 = 4 sqrt(2) G_F m_W^2 (G_mu scheme, as the UFO model's couplings)."""
    return 4.0 * math.sqrt(2.0) * parameters.FERMI_CONSTANT * parameters.W_MASS**2


def decay_average_factor(s_top, s_w, b_mass=B_MASS):
    """Per side: ((t - m_b^2)^2 + w (t + m_b^2) - 2 w^2) / w x (2 w / 3), hvq's decay factor.

    With X = (t - m_b^2)^2 + w (t + m_b^2) - 2 w^2, the W decay-angle average of (p_t.p_l)(p_b.p_nu) is X / 24,
    so the spin-summed t -> b l+ nu |M|^2 = 4 g^4 (p_t.p_l)(p_b.p_nu) |P_W|^2 averages to g^4 X / 6 |P_W|^2.
    """
    mb2 = b_mass**2
    return ((s_top - mb2) ** 2 + s_w * (s_top + mb2) - 2.0 * s_w**2) * 2.0 / 3.0


@dataclass
class DecayStats:
    """Counts of hvq's decay generator (every attempt redraws all four virtualities)."""

    attempts: int = 0
    outside_window: int = 0
    reshuffle_rejected: int = 0
    spin_rejected: int = 0
    spin_ratio_above_bound: int = 0
    spin_ratio_sum: float = 0.0
    spin_ratio_evaluations: int = 0


@dataclass
class Production:
    """On-shell t t~ events: momentum fractions, initial state (index into INITIAL_STATES), top direction in
    the t t~ rest frame (unit vectors), and the Born |M|^2 of the chosen initial state."""

    x1: np.ndarray
    x2: np.ndarray
    state: np.ndarray
    direction: np.ndarray
    born: np.ndarray

    def __len__(self) -> int:
        return len(self.x1)

    def take(self, index) -> Production:
        return Production(self.x1[index], self.x2[index], self.state[index], self.direction[index], self.born[index])


class HvqDecays:
    """hvq's decay generator for on-shell t t~ events (steps 2-6 of the module docstring)."""

    def __init__(
        self,
        matrix_elements: MatrixElements,
        sqrt_s: float,
        top_mass: float,
        top_width: float,
        w_mass: float,
        w_width: float,
        b_mass: float = B_MASS,
        pdf_name: str = parameters.PDF_SET,
    ):
        if matrix_elements.variant != "onshell":
            raise ValueError("hvq's spin correlations use the doubly-resonant ('onshell' variant) matrix elements")
        self.matrix_elements = matrix_elements
        self.sqrt_s = sqrt_s
        self.top_mass, self.top_width = top_mass, top_width
        self.w_mass, self.w_width = w_mass, w_width
        self.b_mass = b_mass
        self.low_scale_pdf = FixedScalePdf(pdf_name, DECAY_PDF_SCALE)
        # at the poles the decay-angle average of |M_DR|^2 is Born x prod BW x prod_sides (g^4 / 12) X_side
        # (X_side as in decay_average_factor), the denominator's prod_sides (2/3) X_side: <R> = (g^4 / 8)^2
        self.normalisation = (w_coupling_squared() ** 2 / 8.0) ** 2
        self.stats = DecayStats()

    # step 4
    def pdf_ratio(self, flavour: int, x: np.ndarray, r: np.ndarray) -> np.ndarray:
        """f(r x, 5 GeV^2) / f(x, 5 GeV^2), negative densities set to zero as POWHEG does; 0 where r x >= 1,
        1 where f(x) vanishes."""
        pdf = self.low_scale_pdf
        numerator = np.where(r * x < 1.0, np.maximum(pdf.xfx(flavour, r * x), 0.0) / (r * x), 0.0)
        denominator = np.maximum(pdf.xfx(flavour, x), 0.0) / x
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 1.0)

    def reshuffle_factor(self, production: Production, s_hat, s_top, s_topbar, s_wp, s_wm):
        """c = E0^2 / (E+ E-) x prod_sides [p*(m* -> w*, m_b) / m*] / [p*(m_t -> m_W, m_b) / m_t] x r
        x prod_i f_i(r x_i) / f_i(x_i) at mu^2 = 5 GeV^2; 0 where r x_i > 1. Also returns r."""
        e_plus, e_minus, e0, r = reshuffle(s_hat, self.top_mass, s_top, s_topbar)
        m_b = np.full_like(s_top, self.b_mass)
        on_shell = rest_frame_momentum(np.array(self.top_mass**2), self.b_mass, self.w_mass) / self.top_mass
        phase_space = (
            rest_frame_momentum(s_top, m_b, np.sqrt(s_wp))
            / np.sqrt(s_top)
            * rest_frame_momentum(s_topbar, m_b, np.sqrt(s_wm))
            / np.sqrt(s_topbar)
        ) / on_shell**2
        flavours = INITIAL_PDG[production.state]
        pdf = np.ones_like(s_top)
        for side, x in ((0, production.x1), (1, production.x2)):
            for flavour in np.unique(flavours[:, side]):
                mask = flavours[:, side] == flavour
                pdf[mask] *= self.pdf_ratio(int(flavour), x[mask], r[mask])
        return e0**2 / (e_plus * e_minus) * phase_space * r * pdf, r

    # step 6
    def spin_ratio(self, production: Production, s_hat, incoming, final, s_top, s_topbar, s_wp, s_wm):
        """R = [|M_DR|^2 / (2 s^')] / [Born / (2 s^) x prod_{t,t~,W+,W-} BW x prod_sides decay_average_factor],
        divided by the couplings' constant so that its decay-angle average at the poles is 1."""
        numerator = np.empty(len(production))
        for channel in ("gg", "uu~", "dd~"):
            for swapped in (False, True):
                states = [k for k, (_, _, c, sw) in enumerate(INITIAL_STATES) if c == channel and sw == swapped]
                mask = np.isin(production.state, states)
                if mask.any():
                    parton_order = incoming[mask][:, ::-1] if swapped else incoming[mask]
                    numerator[mask] = self.matrix_elements.evaluate(channel, parton_order, final[mask])
        s_hat_prime = minkowski_dot(incoming.sum(axis=1), incoming.sum(axis=1))

        def breit_wigner(s, mass, width):
            return 1.0 / ((s - mass**2) ** 2 + (mass * width) ** 2)

        denominator = (
            production.born
            / (2.0 * s_hat)
            * breit_wigner(s_top, self.top_mass, self.top_width)
            * breit_wigner(s_topbar, self.top_mass, self.top_width)
            * breit_wigner(s_wp, self.w_mass, self.w_width)
            * breit_wigner(s_wm, self.w_mass, self.w_width)
            * decay_average_factor(s_top, s_wp, self.b_mass)
            * decay_average_factor(s_topbar, s_wm, self.b_mass)
        )
        return numerator / (2.0 * s_hat_prime) / denominator / self.normalisation

    def kinematics(self, production: Production, s_top, s_topbar, s_wp, s_wm, r, rng: np.random.Generator):
        """Steps 3 and 5: incoming (N, 2, 4) with fractions r x_i and the six decay products (N, 6, 4) in
        slot order, isotropic decays, lab frame."""
        n = len(production)
        s_hat = self.sqrt_s**2 * production.x1 * production.x2
        e_plus, e_minus, e0, _ = reshuffle(s_hat, self.top_mass, s_top, s_topbar)
        k = np.sqrt(np.maximum(e0**2 - self.top_mass**2, 0.0))[:, None] * production.direction
        top = np.concatenate([e_plus[:, None], k], axis=1)
        topbar = np.concatenate([e_minus[:, None], -k], axis=1)
        u = rng.random((n, 8))
        m_b, zero = np.full(n, self.b_mass), np.zeros(n)
        b, wp, _ = two_body(top, s_top, m_b, np.sqrt(s_wp), uniform_directions(u[:, 0], u[:, 1]))
        lp, nu, _ = two_body(wp, s_wp, zero, zero, uniform_directions(u[:, 2], u[:, 3]))
        bb, wm, _ = two_body(topbar, s_topbar, m_b, np.sqrt(s_wm), uniform_directions(u[:, 4], u[:, 5]))
        lm, nub, _ = two_body(wm, s_wm, zero, zero, uniform_directions(u[:, 6], u[:, 7]))
        final = np.stack([b, lp, nu, bb, lm, nub], axis=1)
        x1, x2 = r * production.x1, r * production.x2
        y = 0.5 * np.log(production.x1 / production.x2)  # kept by the reshuffling
        ch, sh = np.cosh(y)[:, None], np.sinh(y)[:, None]
        energy, pz = final[..., 0].copy(), final[..., 3].copy()
        final[..., 0], final[..., 3] = ch * energy + sh * pz, sh * energy + ch * pz
        incoming = np.zeros((n, 2, 4))
        incoming[:, 0, 0] = incoming[:, 0, 3] = 0.5 * self.sqrt_s * x1
        incoming[:, 1, 0] = 0.5 * self.sqrt_s * x2
        incoming[:, 1, 3] = -incoming[:, 1, 0]
        return incoming, final

    def decay(self, production: Production, rng: np.random.Generator):
        """Decay every on-shell event; returns incoming (N, 2, 4) and final (N, 6, 4) momenta."""
        n = len(production)
        incoming, final = np.zeros((n, 2, 4)), np.zeros((n, 6, 4))
        pending = np.arange(n)
        for _ in range(MAX_ROUNDS):
            if len(pending) == 0:
                return incoming, final
            accepted, (inc, fin) = self._attempt(production.take(pending), rng)
            incoming[pending[accepted]], final[pending[accepted]] = inc, fin
            pending = np.delete(pending, accepted)
        raise LheDidiError(f"hvq decays: {len(pending)} events not decayed after {MAX_ROUNDS} attempts each")

    def _attempt(self, production: Production, rng: np.random.Generator):
        """One attempt (steps 2-6) for every event; returns the indices accepted and their momenta."""
        n = len(production)
        self.stats.attempts += n
        u = rng.random((n, 6))
        s_top = cauchy_in_m2(u[:, 0], self.top_mass, self.top_width)
        s_topbar = cauchy_in_m2(u[:, 1], self.top_mass, self.top_width)
        s_wp = cauchy_in_m2(u[:, 2], self.w_mass, self.w_width)
        s_wm = cauchy_in_m2(u[:, 3], self.w_mass, self.w_width)
        inside = in_window(s_top, s_wp, self.top_mass, self.w_mass, self.b_mass) & in_window(
            s_topbar, s_wm, self.top_mass, self.w_mass, self.b_mass
        )
        self.stats.outside_window += int((~inside).sum())
        index = np.flatnonzero(inside)
        production, s_top, s_topbar, s_wp, s_wm, u = (
            production.take(index),
            s_top[index],
            s_topbar[index],
            s_wp[index],
            s_wm[index],
            u[index],
        )
        s_hat = self.sqrt_s**2 * production.x1 * production.x2
        c, r = self.reshuffle_factor(production, s_hat, s_top, s_topbar, s_wp, s_wm)
        keep = u[:, 4] < np.minimum(0.5 * c, 1.0)
        self.stats.reshuffle_rejected += int((~keep).sum())
        index, production = index[keep], production.take(keep)
        s_top, s_topbar, s_wp, s_wm, r, s_hat, u = (a[keep] for a in (s_top, s_topbar, s_wp, s_wm, r, s_hat, u))
        incoming, final = self.kinematics(production, s_top, s_topbar, s_wp, s_wm, r, rng)
        ratio = self.spin_ratio(production, s_hat, incoming, final, s_top, s_topbar, s_wp, s_wm)
        self.stats.spin_ratio_evaluations += len(ratio)
        self.stats.spin_ratio_sum += float(ratio.sum())
        self.stats.spin_ratio_above_bound += int((ratio > SPIN_BOUND).sum())
        keep = u[:, 5] * SPIN_BOUND < ratio
        self.stats.spin_rejected += int((~keep).sum())
        return index[keep], (incoming[keep], final[keep])


@dataclass
class HvqStats(GenerationStats):
    """Production-step figures (cross_section = sigma(t t~) x BR^2; no channels, alpha stays empty) and sigma(t t~)."""

    ttbar_cross_section: float = 0.0  # pb


class HvqGenerator:
    """LO events as POWHEG hvq makes them (``LOevents 1``): on-shell t t~ Born, then :class:`HvqDecays`."""

    kind = "onshell"
    tail_bias = None
    process_id = 1001

    def __init__(
        self,
        leptons: tuple[str, str] = ("e+", "mu-"),
        seed: int = 0,
        top_mass: float = parameters.TOP_MASS,
        top_width: float | None = None,
        w_width: float = parameters.W_WIDTH,
        sqrt_s: float = parameters.SQRT_S,
        matrix_elements: MatrixElements | None = None,
    ):
        self.leptons, self.seed, self.sqrt_s = leptons, seed, sqrt_s
        self.top_mass, self.w_width = top_mass, w_width
        self.top_width = parameters.default_top_width(top_mass) if top_width is None else top_width
        self.scale = top_mass  # mu_R = mu_F = m_t, as hvq's fixedscale 1
        self.pdf = FixedScalePdf(parameters.PDF_SET, self.scale)
        self.ufo = parameters.ufo_parameters(self.pdf.alpha_s, self.top_width, w_width, top_mass)
        self.matrix_elements = matrix_elements or MatrixElements("onshell", leptons, self.ufo)
        self.decays = HvqDecays(self.matrix_elements, sqrt_s, top_mass, self.top_width, parameters.W_MASS, w_width)
        self.rng = np.random.default_rng(seed)
        self.stats = HvqStats()
        self.overweight_points = 1e-4
        self._sum_w = self._sum_w2 = 0.0

    def production_weights(self, n: int):
        """``n`` weighted on-shell t t~ points: (x1, x2, top direction, (N, S) weights per initial state of
        INITIAL_STATES in pb, and the Born |M|^2 of each (N, S))."""
        s_total = self.sqrt_s**2
        u = self.rng.random((n, 4))
        tau_low = 4.0 * self.top_mass**2 / s_total
        tau = TAU_DENSITY.sample(u[:, 0], tau_low, 1.0)
        half_log = -0.5 * np.log(tau)
        y = -half_log + 2.0 * half_log * u[:, 1]
        x1, x2 = np.sqrt(tau) * np.exp(y), np.sqrt(tau) * np.exp(-y)
        direction = uniform_directions(u[:, 2], u[:, 3])
        s_hat = tau * s_total
        beta = np.sqrt(np.maximum(1.0 - 4.0 * self.top_mass**2 / s_hat, 0.0))
        # t = (p1 - p_t)^2 with parton 1 along +z
        t = self.top_mass**2 - 0.5 * s_hat * (1.0 - beta * direction[:, 2])
        u_mandelstam = self.top_mass**2 - 0.5 * s_hat * (1.0 + beta * direction[:, 2])
        born = {
            "gg": born_gg(s_hat, t, u_mandelstam, self.top_mass, self.pdf.alpha_s),
            "qq": born_qqbar(s_hat, t, u_mandelstam, self.top_mass, self.pdf.alpha_s),
        }
        density = TAU_DENSITY.density(tau, tau_low, 1.0) / (2.0 * half_log)  # in (tau, y)
        common = beta / (8.0 * np.pi) / (2.0 * s_hat) / (x1 * x2) / density * parameters.GEV2_TO_PB
        weights = np.empty((n, len(INITIAL_STATES)))
        borns = np.empty((n, len(INITIAL_STATES)))
        for k, (a, b, channel, _) in enumerate(INITIAL_STATES):
            borns[:, k] = born["gg" if channel == "gg" else "qq"]
            weights[:, k] = self.pdf.xfx(a, x1) * self.pdf.xfx(b, x2) * borns[:, k] * common
        return x1, x2, direction, np.nan_to_num(weights), borns

    def _sample(self, n: int):
        sample = self.production_weights(n)
        total = sample[3].sum(axis=1)
        self._sum_w += total.sum()
        self._sum_w2 += (total**2).sum()
        self.stats.points += n
        mean = self._sum_w / self.stats.points
        error = math.sqrt(max(self._sum_w2 / self.stats.points - mean**2, 0.0) / self.stats.points)
        self.stats.ttbar_cross_section = mean
        self.stats.cross_section = mean * HVQ_W_LEPTONIC_BR**2
        self.stats.cross_section_error = error * HVQ_W_LEPTONIC_BR**2
        return sample

    def adapt(self, max_weight_points: int = 300_000) -> None:
        """Maximum production weight: the weight exceeded by a fraction 1e-4 of the points."""
        total = self._sample(max_weight_points)[3].sum(axis=1)
        self.stats.max_weight = float(np.quantile(total, 1.0 - self.overweight_points))

    def generate(self, n_events: int, batch: int = 50_000, progress=None) -> EventBatch:
        """``n_events`` hvq LO events; unit weight sigma x BR^2 except the counted overweight ones."""
        return collect_run(self.generate_chunks(n_events, batch, progress), self.stats)

    def generate_chunks(self, n_events: int, batch: int = 50_000, progress=None):
        """Yield (events, relative weights) in order until ``n_events`` are accepted (XWGTUP:
        :meth:`.generator.GenerationStats.event_weights` once the run is over)."""
        start = time.perf_counter()
        if self.stats.max_weight == 0.0:
            self.adapt()
        w_max = self.stats.max_weight
        accepted, excess, total_weight, relative_sum = 0, 0.0, 0.0, 0.0
        while accepted < n_events:
            x1, x2, direction, weights, borns = self._sample(batch)
            total = weights.sum(axis=1)
            total_weight += total.sum()
            excess += float(np.clip(total - w_max, 0.0, None).sum())
            hits = np.flatnonzero(total > self.rng.random(batch) * w_max)
            index = hits[: n_events - accepted]
            # points tried: the whole batch, or up to the last event taken when the batch fills the sample
            self.stats.generation_points += batch if len(index) == len(hits) else int(index[-1]) + 1
            if len(index) == 0:
                continue
            w = weights[index]
            cumulative = np.cumsum(w, axis=1)
            state = np.minimum(
                (cumulative < self.rng.random(len(index))[:, None] * cumulative[:, -1:]).sum(axis=1),
                len(INITIAL_STATES) - 1,
            )
            production = Production(x1[index], x2[index], state, direction[index], borns[index, state])
            incoming, final = self.decays.decay(production, self.rng)
            events = self._events(production, incoming, final, accepted)
            relative = np.maximum(total[index] / w_max, 1.0)
            self.stats.overweight_events += int((total[index] > w_max).sum())
            accepted += len(index)
            relative_sum += float(relative.sum())
            self.stats.seconds += time.perf_counter() - start
            yield events, relative
            start = time.perf_counter()
            if progress is not None:
                progress(len(index))
        self.stats.accepted += accepted
        self.stats.overweight_fraction = excess / max(total_weight, 1e-300)
        self.stats.mean_relative_weight = relative_sum / accepted
        self.stats.seconds += time.perf_counter() - start

    def _events(self, production: Production, incoming, final, first: int) -> EventBatch:
        return lo_events(self, INITIAL_PDG[production.state], incoming, final, first)
