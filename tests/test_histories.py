"""Resonance histories (t t~, t W-, t~ W+): POWHEG-BOX-RES's projectors, the draw, the records, transform."""

import numpy as np
import pylhe
import pytest
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.constants import TOP_MASS, TOP_WIDTH, W_MASS, W_WIDTH
from lhe_didi.io.checks import check_event
from lhe_didi.io.reader import LheReader
from lhe_didi.io.writer import LheWriter
from lhe_didi.kinematics import histories as h
from lhe_didi.kinematics.observables import system_masses


def back_to_back(mass_top: np.ndarray, mass_w: np.ndarray, axis: int) -> np.ndarray:
    """Three massless momenta (b, lepton, neutrino) with m(b l nu) = mass_top and m(l nu) = mass_w: the W at rest
    in the top frame is built from l and nu back to back along ``axis``, and the b balances it."""
    n = len(mass_top)
    # top at rest: b and W back to back with |p| = (m_t^2 - m_W^2) / (2 m_t) (massless b)
    p = (mass_top**2 - mass_w**2) / (2 * mass_top)
    e_w = np.sqrt(p**2 + mass_w**2)
    out = np.zeros((n, 3, 4))
    out[:, 0, 0], out[:, 0, 1 + axis] = p, p
    # W moving along -axis with momentum p; its decay products along an orthogonal axis in the W frame
    gamma, beta_gamma = e_w / mass_w, -p / mass_w
    other = (axis + 1) % 3
    for k, sign in ((1, 1.0), (2, -1.0)):
        e_star = mass_w / 2
        out[:, k, 0] = gamma * e_star
        out[:, k, 1 + axis] = beta_gamma * e_star
        out[:, k, 1 + other] = sign * e_star
    return out


def events(mass_t, mass_tbar, mass_wp=None, mass_wm=None) -> np.ndarray:
    mass_t, mass_tbar = np.atleast_1d(mass_t).astype(float), np.atleast_1d(mass_tbar).astype(float)
    mass_wp = np.full(len(mass_t), W_MASS) if mass_wp is None else np.atleast_1d(mass_wp)
    mass_wm = np.full(len(mass_t), W_MASS) if mass_wm is None else np.atleast_1d(mass_wm)
    return np.concatenate([back_to_back(mass_t, mass_wp, 2), back_to_back(mass_tbar, mass_wm, 0)], axis=1)


def test_test_events_have_the_requested_virtualities():
    masses = system_masses(events([150.0, 172.5], [300.0, 90.0], [70.0, 80.0], [85.0, 60.0]))
    np.testing.assert_allclose(masses["t"], [150.0, 172.5], rtol=1e-12)
    np.testing.assert_allclose(masses["tbar"], [300.0, 90.0], rtol=1e-12)
    np.testing.assert_allclose(masses["W+"], [70.0, 80.0], rtol=1e-12)
    np.testing.assert_allclose(masses["W-"], [85.0, 60.0], rtol=1e-12)


def projectors_with_w_factors(momenta) -> np.ndarray:
    """Pi_f written out with every resonance of each history, the W's included (they must cancel)."""
    m = system_masses(momenta)

    def bw(mass, pole, width):
        return pole**4 / ((mass**2 - pole**2) ** 2 + pole**2 * width**2)

    t, tb = bw(m["t"], TOP_MASS, TOP_WIDTH), bw(m["tbar"], TOP_MASS, TOP_WIDTH)
    wp, wm = bw(m["W+"], W_MASS, W_WIDTH), bw(m["W-"], W_MASS, W_WIDTH)
    p = np.stack([t * tb * wp * wm, t * wp * wm, tb * wp * wm], axis=1)  # t t~; t W- (W- resonant); t~ W+
    return p / p.sum(axis=1, keepdims=True)


def test_projectors_equal_the_full_breit_wigner_products():
    rng = np.random.default_rng(1)
    n = 2000
    momenta = events(rng.uniform(90, 600, n), rng.uniform(90, 600, n), rng.uniform(20, 85, n), rng.uniform(20, 85, n))
    probabilities = h.history_probabilities(momenta, TOP_MASS, TOP_WIDTH)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(probabilities, projectors_with_w_factors(momenta), rtol=1e-10, atol=1e-15)


def test_projector_limits():
    peak = TOP_MASS**2 / TOP_WIDTH**2  # the top factor on the pole
    on_pole = h.history_probabilities(events(TOP_MASS, TOP_MASS), TOP_MASS, TOP_WIDTH)[0]
    np.testing.assert_allclose(on_pole, [peak / (peak + 2), 1 / (peak + 2), 1 / (peak + 2)], rtol=1e-10)
    assert on_pole[0] > 0.9998
    # t~ far off-shell: its factor F is small, t W- takes 1 / (1 + F_t~ + F_t~ / F_t)
    far = h.history_probabilities(events(TOP_MASS, 600.0), TOP_MASS, TOP_WIDTH)[0]
    f_tbar = h.resonance_factor(np.array(600.0), TOP_MASS, TOP_WIDTH)
    assert f_tbar < 0.1
    np.testing.assert_allclose(far[1], 1 / (1 + f_tbar + f_tbar / peak), rtol=1e-10)
    assert far[1] > 0.9


def test_charge_conjugation_swaps_the_single_top_histories():
    rng = np.random.default_rng(2)
    momenta = events(rng.uniform(100, 400, 500), rng.uniform(100, 400, 500))
    swapped = momenta[:, [3, 4, 5, 0, 1, 2]]
    p, q = (h.history_probabilities(m, TOP_MASS, TOP_WIDTH) for m in (momenta, swapped))
    np.testing.assert_allclose(q, p[:, [0, 2, 1]], rtol=1e-12)


def test_draws_follow_the_projectors_and_do_not_depend_on_chunking():
    rng = np.random.default_rng(3)
    n = 200_000
    momenta = events(rng.normal(TOP_MASS, 8.0, n), rng.normal(TOP_MASS, 8.0, n))
    index = np.arange(n)
    drawn = h.assign_histories(momenta, TOP_MASS, TOP_WIDTH, index, seed=7)
    halves = np.concatenate(
        [
            h.assign_histories(momenta[part], TOP_MASS, TOP_WIDTH, index[part], seed=7)
            for part in np.array_split(index, 3)
        ]
    )
    np.testing.assert_array_equal(drawn, halves)
    assert not np.array_equal(drawn, h.assign_histories(momenta, TOP_MASS, TOP_WIDTH, index, seed=8))
    expected = h.history_probabilities(momenta, TOP_MASS, TOP_WIDTH).sum(axis=0)
    observed = np.bincount(drawn, minlength=3)
    assert expected[1] > 500 and expected[2] > 500  # enough single-top draws to test
    # each count is a sum of independent Bernoulli draws: within 5 standard deviations of its mean
    probabilities = h.history_probabilities(momenta, TOP_MASS, TOP_WIDTH)
    variance = (probabilities * (1 - probabilities)).sum(axis=0)
    assert np.all(np.abs(observed - expected) < 5 * np.sqrt(variance)), (observed, expected)


@pytest.fixture(scope="module")
def single_top_round_trip(tmp_path_factory, hvq_nlo_path):
    reader = LheReader(hvq_nlo_path)
    batch = reader.read_all()
    batch.history = (np.arange(len(batch)) % 3).astype(np.int8)
    out = tmp_path_factory.mktemp("histories") / "histories.lhe.gz"
    with LheWriter(out, reader.header, {"command": "test"}) as writer:
        writer.write(batch)
    return batch, out


def test_single_top_records_round_trip(single_top_round_trip):
    batch, out = single_top_round_trip
    back = LheReader(out).read_all()
    np.testing.assert_array_equal(back.history, batch.history)
    np.testing.assert_array_equal(back.momenta, batch.momenta)
    np.testing.assert_array_equal(back.colours, batch.colours)
    np.testing.assert_array_equal(back.resonance_colours, batch.resonance_colours)
    assert back.extras.tolist() == batch.extras.tolist()
    # among them events with a radiated b~ or b beside the one from the hard process
    radiated_b = np.array([any(abs(p) == 5 for p in event) for event in batch.extras.pdg.tolist()])
    assert np.any(radiated_b & (batch.history != h.TTBAR))


def test_single_top_records_are_consistent(single_top_round_trip):
    batch, out = single_top_round_trip
    records = list(pylhe.LHEFile.fromfile(out).events)
    assert [(i, p) for i, e in enumerate(records) for p in check_event(e.particles)] == []
    for event, history, k in zip(records, batch.history, batch.n_extras, strict=True):
        particles = event.particles
        assert event.eventinfo.nparticles == len(particles) == (12 if history == h.TTBAR else 11) + k
        resonances = sorted(p.id for p in particles if p.status == 2)
        from_hard_process = {p.id for p in particles if p.mother1 == 1 and p.mother2 == 2}
        if history == h.TTBAR:
            assert resonances == [-24, -6, 6, 24]
        elif history == h.T_WMINUS:  # t and W- (and b~) from the hard process; the W+ from the t
            assert resonances == [-24, 6, 24]
            assert {6, -24, -5} <= from_hard_process and not {-6, 24} & from_hard_process
        else:
            assert resonances == [-24, -6, 24]
            assert {-6, 24, 5} <= from_hard_process and not {6, -24} & from_hard_process


@pytest.fixture(scope="module")
def transformed(tmp_path_factory, example_lo_path):
    directory = tmp_path_factory.mktemp("transformed")
    outputs = {}
    for choice in ("projected", "ttbar"):
        out = directory / f"{choice}.lhe"
        result = CliRunner().invoke(
            main, ["transform", str(example_lo_path), "-o", str(out), "--device", "cpu", "--histories", choice]
        )
        assert result.exit_code == 0, result.output
        outputs[choice] = (out, result.output)
    return outputs


def test_transform_draws_histories_from_the_output_kinematics(transformed):
    out, output = transformed["projected"]
    batch = LheReader(out).read_all()
    assert "resonance histories (projected): t t~" in output
    expected = h.assign_histories(batch.momenta, TOP_MASS, TOP_WIDTH, batch.source_index, seed=0)
    np.testing.assert_array_equal(batch.history, expected)
    assert np.count_nonzero(batch.history != h.TTBAR) >= 10  # DiDi's far off-shell tops get single-top histories
    provenance = LheReader(out).header.lhe_didi_provenance[-1]["resonance_histories"]
    assert provenance["choice"] == "projected" and provenance["top_mass"] == TOP_MASS
    inspect = CliRunner().invoke(main, ["inspect", str(out)])
    counts = np.bincount(batch.history, minlength=3)
    assert f"resonance history {h.history_line(counts).rsplit(' of ', 1)[0]}" in inspect.output


def test_transform_can_write_every_event_as_ttbar(transformed):
    batch = LheReader(transformed["ttbar"][0]).read_all()
    assert np.all(batch.history == h.TTBAR)
    projected = LheReader(transformed["projected"][0]).read_all()
    np.testing.assert_array_equal(batch.momenta, projected.momenta)  # only the record differs


def test_fractions_and_their_errors():
    drawn = np.array([0] * 90 + [1] * 6 + [2] * 4)
    unit = h.fractions(drawn)
    assert unit["t W-"][0] == pytest.approx(0.06)
    assert unit["t W-"][1] == pytest.approx(np.sqrt(0.06 * 0.94 / 100))  # binomial
    weighted = h.fractions(drawn, np.where(drawn == 1, 2.0, 1.0))
    assert weighted["t W-"][0] == pytest.approx(12 / 106)
    compared = h.compare_fractions(unit, weighted)["t W-"]
    assert compared["pull"] == pytest.approx((12 / 106 - 0.06) / np.hypot(weighted["t W-"][1], unit["t W-"][1]))
