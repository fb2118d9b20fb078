"""Weighted and unweighted LO events for pp -> b l+ nu b~ l- nu~ (full off-shell, or doubly resonant).

Per phase-space point the weight is summed over all initial states of the
4-flavour scheme (g g; q q~ and q~ q for q = u, d, s, c):

    w = sum_ab  f_a(x1) f_b(x2) |M_ab|^2 / (2 s^)  *  dx1 dx2 dPhi_6 / density      [pb]

and one initial state is then picked with probability proportional to its
term. Unit-weight events follow by hit-or-miss against a maximum weight chosen
after adaptation as the weight exceeded by 1e-4 of the points; the rare
events above it are kept with weight w / w_max (exact, no bias) and counted
(``overweight_events``, ``overweight_fraction`` of the cross section).

Tail bias (optional, POWHEG's ``bornsuppfact`` idea): with ``tail_bias = pT0`` the
hit-or-miss runs on w * b(x), b = 1 + (pT_max / pT0)^2 with pT_max the larger of
pT(b l+ nu) and pT(b~ l- nu~), and each event carries weight proportional to 1 / b. The
high-pT tails then hold many more events while every weighted distribution, and the
cross section, stay those of the unbiased sample.

Resonance history: always t -> b W+ -> b l+ nu and t~ -> b~ W- (as bb4l does by
default). Colour flow: q q~ has one flow; for g g the two leading-colour flows
are chosen with Pythia 8's t/u-channel weights for g g -> Q Q~.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..constants import TOP_MASS, W_MASS, W_WIDTH
from ..io.events import EventBatch, extras_array
from ..io.reader import concatenate
from ..kinematics.histories import assign_histories
from ..kinematics.observables import system_momenta
from . import parameters
from .matrix_elements import MatrixElements, final_state_pdg
from .pdf import FixedScalePdf
from .phase_space import BreitWigner, Channels, PhaseSpace, PhaseSpacePoints, minkowski_dot

# (pdg parton 1, pdg parton 2, matrix-element channel, partons swapped w.r.t. the ME's order)
INITIAL_STATES = [
    (21, 21, "gg", False),
    (2, -2, "uu~", False),
    (4, -4, "uu~", False),
    (-2, 2, "uu~", True),
    (-4, 4, "uu~", True),
    (1, -1, "dd~", False),
    (3, -3, "dd~", False),
    (-1, 1, "dd~", True),
    (-3, 3, "dd~", True),
]


@dataclass
class GenerationStats:
    """Cross section and unweighting figures of a run."""

    cross_section: float = 0.0  # pb
    cross_section_error: float = 0.0
    points: int = 0  # all weighted points (adaptation, integration, generation)
    generation_points: int = 0  # points tried while unweighting
    accepted: int = 0
    max_weight: float = 0.0
    overweight_events: int = 0  # events kept with weight w / max_weight > 1 (w x b with a tail bias)
    overweight_fraction: float = 0.0  # share of sigma (of the biased sum, with a tail bias) above max_weight
    alpha: list[float] = field(default_factory=list)
    seconds: float = 0.0
    mean_relative_weight: float = 1.0  # <w_rel> of the generated events, set when a run is over

    @property
    def efficiency(self) -> float:
        """Unweighting efficiency: accepted events per phase-space point tried while unweighting."""
        return self.accepted / max(self.generation_points, 1)

    def event_weights(self, relative: np.ndarray) -> np.ndarray:
        """XWGTUP of events of relative weights ``relative`` (of the whole run or part of it) once the run is done:
        sigma x w_rel / <w_rel>, the mean over the whole run."""
        return self.cross_section * relative / self.mean_relative_weight


def collect_run(chunks, stats: GenerationStats) -> EventBatch:
    """All events of a run's ``generate_chunks`` in one batch, with their weights
    (:meth:`GenerationStats.event_weights`)."""
    batches, relative = [], []
    for events, weights in chunks:
        batches.append(events)
        relative.append(weights)
    events = concatenate(batches)
    events.weight[:] = stats.event_weights(np.concatenate(relative))
    return events


class ReferenceGenerator:
    """LO reference generator; ``kind`` is ``doubly-resonant`` (the exact t t~ diagrams' |M|^2 inside hvq's
    virtuality window) or ``offshell`` (all diagrams). hvq's own on-shell events: :class:`.hvq.HvqGenerator`."""

    def __init__(
        self,
        kind: str,
        leptons: tuple[str, str] = ("e+", "mu-"),
        seed: int = 0,
        top_width: float | None = None,
        w_width: float = W_WIDTH,
        sqrt_s: float = parameters.SQRT_S,
        tail_bias: float | None = None,
        top_mass: float = TOP_MASS,
    ):
        if kind not in ("doubly-resonant", "offshell"):
            raise ValueError("kind must be 'doubly-resonant' or 'offshell'")
        if tail_bias is not None and not tail_bias > 0:
            raise ValueError("tail_bias (pT0 in GeV) must be positive")
        self.tail_bias = tail_bias
        self.kind = kind
        self.leptons = leptons
        self.seed = seed
        self.sqrt_s = sqrt_s
        self.top_mass = top_mass
        self.top_width = parameters.default_top_width(top_mass) if top_width is None else top_width
        self.w_width = w_width
        self.scale = top_mass  # mu_R = mu_F = m_t
        self.pdf = FixedScalePdf(parameters.PDF_SET, self.scale)
        self.ufo = parameters.ufo_parameters(self.pdf.alpha_s, self.top_width, w_width, top_mass)
        self.matrix_elements = MatrixElements("onshell" if kind == "doubly-resonant" else kind, leptons, self.ufo)
        top = BreitWigner(top_mass, self.top_width)
        channels = Channels.onshell(top) if kind == "doubly-resonant" else Channels.offshell(top)
        self.phase_space = PhaseSpace(sqrt_s, channels, BreitWigner(W_MASS, w_width))
        self.rng = np.random.default_rng(seed)
        self.stats = GenerationStats()
        self.overweight_points = 1e-4
        self._sum_w = 0.0
        self._sum_w2 = 0.0

    def initial_state_weights(self, points: PhaseSpacePoints) -> np.ndarray:
        """Weight of every point for each of :data:`INITIAL_STATES`, shape (N, 9), in pb."""
        n = len(points.x1)
        valid = points.valid
        incoming, final = points.incoming[valid], points.final[valid]
        squared = {}
        for channel in ("gg", "uu~", "dd~"):
            squared[(channel, False)] = self.matrix_elements.evaluate(channel, incoming, final)
            if channel != "gg":
                squared[(channel, True)] = self.matrix_elements.evaluate(channel, incoming[:, ::-1], final)
        x1, x2 = points.x1[valid], points.x2[valid]
        s_hat = self.sqrt_s**2 * x1 * x2
        common = points.jacobian[valid] * parameters.GEV2_TO_PB / (2.0 * s_hat * x1 * x2)
        weights = np.zeros((n, len(INITIAL_STATES)))
        for k, (a, b, channel, swapped) in enumerate(INITIAL_STATES):
            weights[valid, k] = self.pdf.xfx(a, x1) * self.pdf.xfx(b, x2) * squared[(channel, swapped)] * common
        return weights

    def sampling_bias(self, final: np.ndarray) -> np.ndarray:
        """Bias factor b = 1 + (pT_max / pT0)^2 of final states (N, 6, 4) in slot order b l+ nu b~ l- nu~;
        ones without a tail bias. pT_max is the larger transverse momentum of the two top candidates."""
        if self.tail_bias is None:
            return np.ones(len(final))
        systems = system_momenta(final)
        pt_max = np.nan_to_num(np.maximum(*(np.hypot(systems[top][:, 1], systems[top][:, 2]) for top in ("t", "tbar"))))
        return 1.0 + (pt_max / self.tail_bias) ** 2

    def _sample(self, n: int) -> tuple[PhaseSpacePoints, np.ndarray]:
        points = self.phase_space.sample(n, self.rng)
        weights = self.initial_state_weights(points)
        total = weights.sum(axis=1)
        self._sum_w += total.sum()
        self._sum_w2 += (total**2).sum()
        self.stats.points += n
        mean = self._sum_w / self.stats.points
        variance = max(self._sum_w2 / self.stats.points - mean**2, 0.0)
        self.stats.cross_section = mean
        self.stats.cross_section_error = math.sqrt(variance / self.stats.points)
        return points, weights

    def adapt(
        self,
        points_per_iteration: int = 20_000,
        iterations: int = 6,
        floor: float = 0.02,
        max_weight_points: int = 300_000,
    ) -> None:
        """Kleiss-Pittau update of the channel weights, then the maximum weight for unweighting.

        The maximum is the weight exceeded by a fraction :attr:`overweight_points` of phase-space
        points (a quantile: a single extreme point in a heavy tail cannot inflate it); events above
        it are kept with weight w / w_max, so the choice trades efficiency for weighted events only.
        """
        channels = self.phase_space.channels
        for _ in range(iterations if len(channels.alpha) > 1 else 0):
            points, weights = self._sample(points_per_iteration)
            total = weights.sum(axis=1)
            mixture = points.channel_densities @ channels.alpha
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(mixture[:, None] > 0, points.channel_densities / mixture[:, None], 0.0)
            variance_share = np.mean(ratio * total[:, None] ** 2, axis=0)
            alpha = channels.alpha * np.sqrt(variance_share)
            alpha = np.maximum(alpha / alpha.sum(), floor)
            channels.alpha = alpha / alpha.sum()
        points, weights = self._sample(max_weight_points)
        biased = weights.sum(axis=1) * self.sampling_bias(points.final)
        self.stats.max_weight = float(np.quantile(biased, 1.0 - self.overweight_points))
        self.stats.alpha = channels.alpha.tolist()

    def integrate(self, points: int, batch: int = 50_000) -> tuple[float, float]:
        """Cross section (pb) and MC error from ``points`` weighted points."""
        for start in range(0, points, batch):
            self._sample(min(batch, points - start))
        return self.stats.cross_section, self.stats.cross_section_error

    def generate(self, n_events: int, batch: int = 20_000, progress=None) -> EventBatch:
        """``n_events`` events with unit weight except the counted overweight ones (:meth:`generate_chunks`)."""
        return collect_run(self.generate_chunks(n_events, batch, progress), self.stats)

    def generate_chunks(self, n_events: int, batch: int = 20_000, progress=None):
        """Yield (events, relative weights) in order until ``n_events`` are accepted; the events' XWGTUP is 0 until
        the run is over, then :meth:`GenerationStats.event_weights` gives it.

        XWGTUP = sigma for unit-weight events and sigma * w / w_max (renormalised so that
        the mean weight is sigma) for the rare events above the maximum weight; with a tail
        bias both are divided by the event's bias factor b before that renormalisation.
        ``progress`` is called with the number of events accepted per batch.
        """
        start = time.perf_counter()
        if self.stats.max_weight == 0.0:
            self.adapt()
        accepted, overweight, excess, total_weight, relative_sum = 0, 0, 0.0, 0.0, 0.0
        w_max = self.stats.max_weight
        while accepted < n_events:
            points, weights = self._sample(batch)
            bias = self.sampling_bias(points.final)
            total = weights.sum(axis=1) * bias
            total_weight += total.sum()
            excess += float(np.clip(total - w_max, 0.0, None).sum())
            hits = np.flatnonzero(total > self.rng.random(batch) * w_max)
            index = hits[: n_events - accepted]
            # points tried: the whole batch, or up to the last event taken when the batch fills the sample
            self.stats.generation_points += batch if len(index) == len(hits) else int(index[-1]) + 1
            if len(index):
                events = self._events(points, weights, index, accepted)
                relative = np.maximum(total[index] / w_max, 1.0) / bias[index]
                overweight += int((total[index] > w_max).sum())
                accepted += len(index)
                relative_sum += float(relative.sum())
                if self.kind == "offshell":  # as bb4l: t t~, t W- or t~ W+ with POWHEG-BOX-RES's projectors
                    events.history = assign_histories(
                        events.momenta, self.top_mass, self.top_width, events.index, self.seed
                    )
                self.stats.seconds += time.perf_counter() - start
                yield events, relative
                start = time.perf_counter()
                if progress is not None:
                    progress(len(index))
        self.stats.accepted += accepted
        self.stats.overweight_events += overweight
        self.stats.overweight_fraction = excess / max(total_weight, 1e-300)
        self.stats.mean_relative_weight = relative_sum / accepted
        self.stats.seconds += time.perf_counter() - start

    def _events(self, points: PhaseSpacePoints, weights: np.ndarray, index: np.ndarray, first: int) -> EventBatch:
        """Build an EventBatch for the accepted points, choosing initial state and colour flow."""
        n = len(index)
        w = weights[index]
        cumulative = np.cumsum(w, axis=1)
        pick = (cumulative < self.rng.random(n)[:, None] * cumulative[:, -1:]).sum(axis=1)
        pick = np.minimum(pick, len(INITIAL_STATES) - 1)
        incoming_pdg = np.array([INITIAL_STATES[k][:2] for k in pick])
        return lo_events(self, incoming_pdg, points.incoming[index], points.final[index], first)

    @property
    def process_id(self) -> int:
        """LPRUP of the sample: 1002 off-shell, 1003 doubly-resonant (1001: hvq-like on-shell)."""
        return 1003 if self.kind == "doubly-resonant" else 1002


def lo_events(generator, incoming_pdg: np.ndarray, incoming: np.ndarray, final: np.ndarray, first: int) -> EventBatch:
    """EventBatch of LO events numbered from ``first``, colour flow drawn with ``generator.rng``; leptons, process id,
    scale and alpha_s from ``generator`` (a :class:`ReferenceGenerator` or :class:`.hvq.HvqGenerator`); weights zero."""
    n = len(final)
    incoming_colours, colours, resonance_colours = colour_flow(generator.rng, incoming_pdg, incoming, final)
    return EventBatch(
        index=first + np.arange(n),
        momenta=final,
        masses=np.tile([parameters.B_MASS, 0.0, 0.0, parameters.B_MASS, 0.0, 0.0], (n, 1)),
        pdg=np.tile(final_state_pdg(generator.leptons), (n, 1)),
        colours=colours,
        incoming_pdg=incoming_pdg,
        incoming_colours=incoming_colours,
        incoming_momenta=incoming,
        resonance_colours=resonance_colours,
        extras=extras_array([[] for _ in range(n)]),
        process_id=np.full(n, generator.process_id),
        weight=np.zeros(n),
        scale=np.full(n, generator.scale),
        aqed=np.full(n, parameters.alpha_gmu()),
        aqcd=np.full(n, generator.pdf.alpha_s),
        source_index=np.full(n, -1),
        radiation_comment=np.full(n, "", dtype=object),
        history=np.zeros(n, dtype=np.int8),  # t t~; ReferenceGenerator.generate draws them for off-shell samples
    )


def colour_flow(rng: np.random.Generator, incoming_pdg, incoming, final):
    """Colours of the incoming partons, the six decay products and the resonances t, t~, W+, W-: q q~ has one
    flow; g g one of the two leading-colour flows, chosen with Pythia 8's weights for g g -> Q Q~."""
    n = len(incoming_pdg)
    top = final[:, 0:3].sum(axis=1)
    topbar = final[:, 3:6].sum(axis=1)
    p1 = incoming[:, 0]
    s_hat = minkowski_dot(incoming.sum(axis=1), incoming.sum(axis=1))
    m2 = 0.5 * (minkowski_dot(top, top) + minkowski_dot(topbar, topbar))
    t_q, u_q = minkowski_dot(p1 - top, p1 - top) - m2, minkowski_dot(p1 - topbar, p1 - topbar) - m2
    tum = t_q * u_q - m2 * s_hat

    def flow_weight(a, b):  # Pythia 8, Sigma2gg2QQbar
        return (
            np.maximum(
                b / a
                - 2.25 * b**2 / s_hat**2
                + 4.5 * m2 * tum / (s_hat * a**2)
                + 0.5 * m2 * (a + m2) / a**2
                - m2**2 / (s_hat * a),
                0.0,
            )
            + 1e-300
        )

    ts = flow_weight(t_q, u_q)
    us = flow_weight(u_q, t_q)
    choose_ts = rng.random(n) * (ts + us) < ts
    incoming_colours = np.zeros((n, 2, 2), dtype=np.int64)
    top_colour = np.zeros(n, dtype=np.int64)
    topbar_anticolour = np.zeros(n, dtype=np.int64)
    gluons = incoming_pdg[:, 0] == 21
    # g g: TS: g1 (1,2) g2 (2,3) t (1,0) t~ (0,3); US: g1 (1,2) g2 (3,1) t (3,0) t~ (0,2)
    g_ts, g_us = gluons & choose_ts, gluons & ~choose_ts
    incoming_colours[g_ts] = [[501, 502], [502, 503]]
    top_colour[g_ts], topbar_anticolour[g_ts] = 501, 503
    incoming_colours[g_us] = [[501, 502], [503, 501]]
    top_colour[g_us], topbar_anticolour[g_us] = 503, 502
    # q q~ (quark first) and q~ q: colour of the quark flows to t, anticolour of the antiquark to t~
    quark_first = ~gluons & (incoming_pdg[:, 0] > 0)
    antiquark_first = ~gluons & (incoming_pdg[:, 0] < 0)
    incoming_colours[quark_first] = [[501, 0], [0, 502]]
    incoming_colours[antiquark_first] = [[0, 502], [501, 0]]
    top_colour[~gluons], topbar_anticolour[~gluons] = 501, 502
    colours = np.zeros((n, 6, 2), dtype=np.int64)
    colours[:, 0, 0] = top_colour
    colours[:, 3, 1] = topbar_anticolour
    resonance_colours = np.zeros((n, 4, 2), dtype=np.int64)
    resonance_colours[:, 0, 0] = top_colour
    resonance_colours[:, 1, 1] = topbar_anticolour
    return incoming_colours, colours, resonance_colours
