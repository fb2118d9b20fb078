"""hvq-faithful on-shell generator: Born, window, reshuffling, acceptance factors, spin ratio,
line shape vs real hvq."""

from types import SimpleNamespace

import numpy as np
import pytest

from lhe_didi.constants import B_MASS, TOP_MASS, TOP_WIDTH, W_MASS, W_WIDTH
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import system_masses
from lhe_didi.reference import analytic, parameters
from lhe_didi.reference.hvq import (
    HvqDecays,
    HvqGenerator,
    Production,
    born_gg,
    born_qqbar,
    cauchy_in_m2,
    in_window,
    reshuffle,
)
from lhe_didi.reference.phase_space import minkowski_dot, rest_frame_momentum

ALPHA_S = 0.107674


def _decays_without_matrix_elements(**kw):
    return HvqDecays(SimpleNamespace(variant="onshell"), parameters.SQRT_S, TOP_MASS, TOP_WIDTH, W_MASS, W_WIDTH, **kw)


@pytest.mark.parametrize("sqrt_s_hat", [350.0, 400.0, 700.0, 2000.0])
def test_born_integrates_to_textbook_partonic_cross_sections(sqrt_s_hat):
    s = sqrt_s_hat**2
    cos, weights = np.polynomial.legendre.leggauss(200)
    beta = np.sqrt(1 - 4 * TOP_MASS**2 / s)
    t = TOP_MASS**2 - 0.5 * s * (1 - beta * cos)
    u = TOP_MASS**2 - 0.5 * s * (1 + beta * cos)
    # sigma = 1/(2 s) int |M|^2 dPhi_2,  dPhi_2 = beta / (16 pi) dcos
    for born, sigma in ((born_gg, analytic.sigma_gg), (born_qqbar, analytic.sigma_qqbar)):
        integral = np.sum(weights * born(s, t, u, TOP_MASS, ALPHA_S)) * beta / (16 * np.pi) / (2 * s)
        assert integral == pytest.approx(float(sigma(np.array(s), TOP_MASS, ALPHA_S)), rel=1e-10)


def test_window_of_hvq():
    s_top = np.array([TOP_MASS**2, W_MASS**2 - 1, 2 * TOP_MASS**2 + 1, 100.0**2, 90.0**2, TOP_MASS**2])
    s_w = np.array([W_MASS**2, 70.0**2, W_MASS**2, 99.0**2, 86.0**2, -5.0])
    assert in_window(s_top, s_w, TOP_MASS, W_MASS).tolist() == [True, False, False, False, False, False]
    # m_W < m* < sqrt(2) m_t; 0 < w* < m*; sqrt(w*) + m_b < m*
    assert in_window(np.array([95.0**2]), np.array([90.0**2]), TOP_MASS, W_MASS).tolist() == [True]
    assert in_window(np.array([95.0**2]), np.array([(95.0 - B_MASS + 0.1) ** 2]), TOP_MASS, W_MASS).tolist() == [False]


def test_cauchy_in_m2_is_a_breit_wigner():
    s = cauchy_in_m2(np.random.default_rng(1).random(400_000), TOP_MASS, TOP_WIDTH)
    # half of a Cauchy law lies within one half-width (M Gamma in m^2) of the pole
    assert np.mean(np.abs(s - TOP_MASS**2) < TOP_MASS * TOP_WIDTH) == pytest.approx(0.5, abs=0.003)
    assert np.median(s) == pytest.approx(TOP_MASS**2, abs=2.0)


def _production(n, rng):
    x1, x2 = rng.uniform(0.03, 0.3, n), rng.uniform(0.03, 0.3, n)
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return Production(x1, x2, rng.integers(0, 9, n), direction, np.ones(n))


def test_reshuffling_keeps_three_momentum_and_rapidity_and_conserves_momentum():
    rng = np.random.default_rng(2)
    decays = _decays_without_matrix_elements()
    production = _production(2000, rng)
    s_top, s_topbar = rng.uniform(150, 190, (2, 2000)) ** 2
    s_wp, s_wm = rng.uniform(70, 90, (2, 2000)) ** 2
    s_hat = parameters.SQRT_S**2 * production.x1 * production.x2
    e_plus, e_minus, e0, r = reshuffle(s_hat, TOP_MASS, s_top, s_topbar)
    incoming, final = decays.kinematics(production, s_top, s_topbar, s_wp, s_wm, r, rng)
    np.testing.assert_allclose(incoming[:, 0, 0] / (0.5 * parameters.SQRT_S), r * production.x1, rtol=1e-12)
    np.testing.assert_allclose(incoming[:, 1, 0] / (0.5 * parameters.SQRT_S), r * production.x2, rtol=1e-12)
    np.testing.assert_allclose(incoming.sum(axis=1), final.sum(axis=1), atol=1e-8)
    masses = system_masses(final)
    np.testing.assert_allclose(masses["t"] ** 2, s_top, rtol=1e-9)
    np.testing.assert_allclose(masses["W-"] ** 2, s_wm, rtol=1e-9)
    total = final.sum(axis=1)
    rapidity = 0.5 * np.log((total[:, 0] + total[:, 3]) / (total[:, 0] - total[:, 3]))
    np.testing.assert_allclose(rapidity, 0.5 * np.log(production.x1 / production.x2), atol=1e-10)
    # in the t t~ rest frame the top keeps the on-shell |k| along its original direction
    top = final[:, 0:3].sum(axis=1)
    y = rapidity[:, None]
    k = top.copy()
    k[:, 3] = np.cosh(y[:, 0]) * top[:, 3] - np.sinh(y[:, 0]) * top[:, 0]
    k_expected = np.sqrt(s_hat / 4 - TOP_MASS**2)[:, None] * production.direction
    np.testing.assert_allclose(k[:, 1:], k_expected, atol=1e-7)
    np.testing.assert_allclose(np.sqrt(minkowski_dot(total, total)), e_plus + e_minus, rtol=1e-10)
    assert np.all(np.abs(e0 - 0.5 * np.sqrt(s_hat)) < 1e-9)


def test_reshuffle_factor_is_one_at_the_poles_and_follows_its_formula():
    rng = np.random.default_rng(3)
    decays = _decays_without_matrix_elements()
    production = _production(500, rng)
    s_hat = parameters.SQRT_S**2 * production.x1 * production.x2
    ones = np.ones(500)
    c, r = decays.reshuffle_factor(
        production, s_hat, TOP_MASS**2 * ones, TOP_MASS**2 * ones, W_MASS**2 * ones, W_MASS**2 * ones
    )
    np.testing.assert_allclose(r, 1.0, rtol=1e-14)
    np.testing.assert_allclose(c, 1.0, rtol=1e-12)
    # one gg point by hand: m+ = 165, m- = 180, w+ = 79, w- = 82
    gg = Production(np.array([0.05]), np.array([0.04]), np.array([0]), np.array([[0.0, 0.0, 1.0]]), np.ones(1))
    s_hat = parameters.SQRT_S**2 * 0.05 * 0.04
    e0 = np.sqrt(s_hat) / 2
    k2 = e0**2 - TOP_MASS**2
    e_p, e_m = np.sqrt(165.0**2 + k2), np.sqrt(180.0**2 + k2)
    r = (e_p + e_m) / (2 * e0)

    def p_over_m(m, w):
        return np.sqrt((m**2 - (w + B_MASS) ** 2) * (m**2 - (w - B_MASS) ** 2)) / (2 * m * m)

    pdf = decays.low_scale_pdf
    pdf_ratio = (
        pdf.xfx(21, r * 0.05)
        / (r * 0.05)
        / (pdf.xfx(21, 0.05) / 0.05)
        * pdf.xfx(21, r * 0.04)
        / (r * 0.04)
        / (pdf.xfx(21, 0.04) / 0.04)
    )
    expected = (
        e0**2
        / (e_p * e_m)
        * p_over_m(165.0, 79.0)
        * p_over_m(180.0, 82.0)
        / p_over_m(TOP_MASS, W_MASS) ** 2
        * r
        * pdf_ratio
    )
    c, _ = decays.reshuffle_factor(
        gg, np.array([s_hat]), np.array([165.0**2]), np.array([180.0**2]), np.array([79.0**2]), np.array([82.0**2])
    )
    assert c[0] == pytest.approx(float(expected), rel=1e-12)
    assert decays.pdf_ratio(21, np.array([0.6]), np.array([1.7]))[0] == 0.0  # r x > 1 closes the channel


def test_decay_momentum_matches_two_body_formula():
    assert rest_frame_momentum(np.array(TOP_MASS**2), B_MASS, W_MASS) == pytest.approx(
        np.sqrt((TOP_MASS**2 - (W_MASS + B_MASS) ** 2) * (TOP_MASS**2 - (W_MASS - B_MASS) ** 2)) / (2 * TOP_MASS)
    )


@pytest.fixture(scope="module")
def hvq_generator():
    generator = HvqGenerator(seed=31)
    generator.adapt(max_weight_points=100_000)
    return generator


def test_spin_ratio_averages_to_one_at_the_poles(hvq_generator):
    """At on-shell virtualities the decay-angle average of R is exactly 1 (the couplings' constant is right),
    while single events spread (spin correlations)."""
    decays = hvq_generator.decays
    rng = np.random.default_rng(4)
    n = 40_000
    x1, x2, direction, weights, borns = hvq_generator.production_weights(8)
    for event, state in ((0, 0), (1, 1), (2, 3)):
        production = Production(
            np.full(n, x1[event]),
            np.full(n, x2[event]),
            np.full(n, state),
            np.tile(direction[event], (n, 1)),
            np.full(n, borns[event, state]),
        )
        s_top, s_w = np.full(n, TOP_MASS**2), np.full(n, W_MASS**2)
        incoming, final = decays.kinematics(production, s_top, s_top, s_w, s_w, np.ones(n), rng)
        s_hat = parameters.SQRT_S**2 * production.x1 * production.x2
        ratio = decays.spin_ratio(production, s_hat, incoming, final, s_top, s_top, s_w, s_w)
        assert ratio.mean() == pytest.approx(1.0, abs=5 * ratio.std() / np.sqrt(n))
        assert ratio.std() > 0.1 and ratio.max() < 8.0


def test_hvq_sample_invariants_and_cross_section(hvq_generator):
    events = hvq_generator.generate(3000)
    masses = system_masses(events.momenta)
    assert np.all((masses["t"] > W_MASS) & (masses["t"] < np.sqrt(2) * TOP_MASS))
    assert np.all(masses["W+"] < masses["t"]) and np.all(masses["W-"] + B_MASS < masses["tbar"])
    np.testing.assert_allclose(events.incoming_momenta.sum(axis=1), events.momenta.sum(axis=1), atol=1e-7)
    # sigma(t t~) against the textbook convolution with the same PDF, five flavours as hvq
    expected = analytic.hadronic_ttbar(hvq_generator.pdf, parameters.SQRT_S, TOP_MASS, quarks=(1, 2, 3, 4, 5))["total"]
    assert np.isin(events.incoming_pdg[:, 0], [5, -5]).mean() < 0.01
    stats = hvq_generator.stats
    assert stats.ttbar_cross_section == pytest.approx(expected, abs=4 * stats.cross_section_error / 0.108**2)
    assert np.isclose(events.weight.mean(), stats.cross_section, rtol=1e-9)


LINE_SHAPE_EDGES = np.array([100.0, 140.0, 150.0, 160.0, 165.0, 170.0, 175.0, 180.0, 185.0, 190.0, 200.0, 244.0])


def test_top_line_shape_agrees_with_real_hvq(hvq_generator, hvq_nnpdf_path):
    """m(b l+ nu) and m(b~ l- nu~) in bins from 100 to 244 GeV against POWHEG hvq's own LO file (same PDF and
    scale): chi^2 per bin ~ 1, where the doubly-resonant |M|^2 misses the low-mass tail by a factor 2-9."""
    ours = system_masses(hvq_generator.generate(40_000).momenta)
    real = system_masses(LheReader(hvq_nnpdf_path).read_all().momenta)
    for top in ("t", "tbar"):
        a, _ = np.histogram(ours[top], LINE_SHAPE_EDGES)
        b, _ = np.histogram(real[top], LINE_SHAPE_EDGES)
        pa, pb = a / len(ours[top]), b / len(real[top])
        chi2 = np.sum((pa - pb) ** 2 / (pa / len(ours[top]) + pb / len(real[top])))
        assert chi2 / len(pa) < 2.5, (top, chi2, pa / pb)
        # the low-mass tail (100-160 GeV) within 15%
        assert a[:3].sum() / len(ours[top]) == pytest.approx(b[:3].sum() / len(real[top]), rel=0.15)


def test_unweighting_efficiency_counts_only_the_points_tried(hvq_generator):
    """A small sample stops inside its batch: the efficiency is that of the points up to the last event taken."""
    before_points, before_accepted = hvq_generator.stats.generation_points, hvq_generator.stats.accepted
    hvq_generator.generate(200)
    tried = hvq_generator.stats.generation_points - before_points
    assert hvq_generator.stats.accepted - before_accepted == 200
    assert 0.05 < 200 / tried < 0.13  # the production unweighting efficiency, 8.5% with 3 million events
