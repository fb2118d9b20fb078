"""Decay-chain coordinates (helicity and beam-pole frames): exact round trip, resonance masses, W helicity fractions,
bipolar b direction, preprocessing."""

import numpy as np
import pytest

from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics import decay_chain as dc
from lhe_didi.kinematics.observables import invariant_mass
from lhe_didi.kinematics.recoil import to_zero_pt_frame
from lhe_didi.kinematics.representation import Preprocessor, get
from lhe_didi.kinematics.symmetry import beam_exchange

SIDES = {"top": (0, 1, 2), "tbar": (3, 4, 5)}


def column(features, name):
    return features[:, dc.FEATURES.index(name)]


@pytest.fixture(scope="module")
def hvq_lo(example_lo_path):
    batch = LheReader(example_lo_path).read_all()
    return batch, to_zero_pt_frame(batch.momenta)


@pytest.fixture(scope="module")
def hvq_lo_large(hvq_lo_path):
    """20k real hvq events: enough b quarks beyond |eta| = 3 for the beam-pole test."""
    batch = next(LheReader(hvq_lo_path).batches(20_000))
    return batch, to_zero_pt_frame(batch.momenta)


@pytest.mark.parametrize("b_direction", ["helicity", "beam-poles"])
def test_round_trip_on_real_hvq_events(hvq_lo, nlo_batch, b_direction):
    for batch, momenta in (hvq_lo, (nlo_batch, to_zero_pt_frame(nlo_batch.momenta))):
        features, rotation = dc.encode(momenta, b_direction)
        assert features.shape == (len(batch), 15) and np.all(np.isfinite(features))
        back = dc.decode(features, rotation, batch.masses, b_direction)
        # The file prints 10-11 digits, so a massless particle's implied mass is ~1e-3 GeV; decode uses the exact
        # mass. That matters only for far off-shell W (m_W of a few GeV, large boosts): worst event 2.6e-6 of the
        # energy, typical event 2e-9.
        relative = np.max(np.abs(back - momenta) / momenta[..., :1], axis=(1, 2))
        assert relative.max() < 1e-5 and np.median(relative) < 1e-8
        # decoded momenta carry the external masses exactly and balance in pT
        mass_squared = back[..., 0] ** 2 - np.sum(back[..., 1:] ** 2, axis=-1)
        assert np.all(np.abs(mass_squared - batch.masses**2) < 1e-12 * back[..., 0] ** 2)
        np.testing.assert_allclose(back.sum(axis=1)[:, 1:3], 0.0, atol=1e-7)


def test_resonance_masses_are_coordinates(hvq_lo):
    _, momenta = hvq_lo
    features, _ = dc.encode(momenta)
    for side, (b, lepton, neutrino) in SIDES.items():
        np.testing.assert_allclose(
            column(features, f"m_t_{side}"), invariant_mass(momenta[:, [b, lepton, neutrino]].sum(1)), rtol=1e-10
        )
        np.testing.assert_allclose(
            column(features, f"m_W_{side}"), invariant_mass(momenta[:, [lepton, neutrino]].sum(1)), rtol=1e-10
        )


def test_lepton_helicity_angle_follows_the_lo_w_helicity_fractions(hvq_lo):
    """In t -> b W, W -> l nu the lepton angle in the W rest frame (about the W direction in the top frame)
    follows 3/8 F_L (1 - c)^2 + 3/4 F_0 (1 - c^2), F_L = 2 m_W^2 / (m_t^2 + 2 m_W^2) at LO: <c> = -F_L / 2 and
    <c^2> = 0.4 F_L + 0.2 F_0. POWHEG hvq decays with spin correlations; 20k events give <c> to 0.0035."""
    _, momenta = hvq_lo
    features, _ = dc.encode(momenta)
    for side in SIDES:
        cosine = column(features, f"costheta_l_{side}")
        m_top, m_w = column(features, f"m_t_{side}"), column(features, f"m_W_{side}")
        f_left = 2 * m_w**2 / (m_top**2 + 2 * m_w**2)
        error = cosine.std() / np.sqrt(len(cosine))
        assert abs(cosine.mean() + f_left.mean() / 2) < 4 * error
        assert abs(np.mean(cosine**2) - np.mean(0.4 * f_left + 0.2 * (1 - f_left))) < 4 * (cosine**2).std() / np.sqrt(
            len(cosine)
        )


def _angle(u, v):
    return np.arccos(np.clip(np.sum(u * v, axis=1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1), -1.0, 1.0))


def test_beam_pole_coordinates_of_the_b_direction(hvq_lo_large):
    """rho_b is log(sin(theta+/2) / sin(theta-/2)) with theta+- the angles between the b and the two beams in the
    top rest frame (computed here with independent boosts of the beam momenta); the beam exchange R swaps the
    beams, so rho_b -> -rho_b; a b close to a beam in the lab sits at the matching pole."""
    _, momenta = hvq_lo_large
    features, _ = dc.encode(momenta, "beam-poles")
    for side, (b, lepton, neutrino) in SIDES.items():
        top = momenta[:, [b, lepton, neutrino]].sum(1)
        beta = top[:, 1:] / top[:, :1]
        gamma = top[:, :1] / invariant_mass(top)[:, None]

        def to_top_frame(p, beta=beta, gamma=gamma):  # Lorentz boost by -beta, written out
            along = np.sum(p[:, 1:] * beta, axis=1, keepdims=True)
            beta2 = np.sum(beta**2, axis=1, keepdims=True)
            return p[:, 1:] + ((gamma - 1) * along / beta2 - gamma * p[:, :1]) * beta

        b_star = to_top_frame(momenta[:, b])
        theta = [_angle(b_star, to_top_frame(np.tile([1.0, 0.0, 0.0, sign], (len(top), 1)))) for sign in (1.0, -1.0)]
        rho = column_of(features, f"rho_b_{side}")
        np.testing.assert_allclose(rho, np.log(np.sin(theta[0] / 2) / np.sin(theta[1] / 2)), atol=1e-9)
        # a b along +z (-z) in the lab is closer to d+ (d-): rho_b < 0 (> 0), the further out the more so
        pseudorapidity = np.arcsinh(momenta[:, b, 3] / np.hypot(momenta[:, b, 1], momenta[:, b, 2]))
        forward, backward, central = pseudorapidity > 3, pseudorapidity < -3, np.abs(pseudorapidity) < 0.5
        assert forward.sum() > 50 and backward.sum() > 50
        assert np.mean(rho[forward] < 0) > 0.95 and np.mean(rho[backward] > 0) > 0.95
        assert (
            np.median(rho[forward])
            < np.median(rho[central]) - 1
            < np.median(rho[central]) + 1
            < np.median(rho[backward])
        )
    mirrored, _ = dc.encode(beam_exchange(momenta), "beam-poles")
    for side in SIDES:
        np.testing.assert_allclose(
            column_of(mirrored, f"rho_b_{side}"), -column_of(features, f"rho_b_{side}"), atol=1e-9
        )


def column_of(features, name):
    return features[:, dc.BEAM_FEATURES.index(name)]


def test_every_beam_pole_coordinate_decodes_to_a_physical_chain(hvq_lo):
    """The bipolar map covers the sphere: any network output (shaped coordinates) decodes to six on-shell momenta
    that encode back to the same coordinates, also at w = 1 (rho = psi = 0, the stereographic point at infinity)."""
    batch, momenta = hvq_lo
    _, rotation = dc.encode(momenta[:1000], "beam-poles")
    shaped = np.random.default_rng(7).normal(0.0, 3.0, (1000, 15))
    shaped[:5, dc.BEAM_FEATURES.index("rho_b_top")] = 0.0
    shaped[:5, dc.BEAM_FEATURES.index("psi_b_top")] = 0.0
    features = dc.unshape(shaped, "beam-poles")
    features[:, dc.BEAM_FEATURES.index("pt_t")] = np.clip(features[:, dc.BEAM_FEATURES.index("pt_t")], 1.0, 2000.0)
    features[:, [dc.BEAM_FEATURES.index("y_t"), dc.BEAM_FEATURES.index("y_tbar")]] /= 3.0  # rapidities within +-3
    for name in ("m_t_top", "m_t_tbar"):  # masses of a few hundred GeV at most, well above the thresholds
        features[:, dc.BEAM_FEATURES.index(name)] = np.clip(features[:, dc.BEAM_FEATURES.index(name)], 100.0, 400.0)
    for name in ("m_W_top", "m_W_tbar"):
        features[:, dc.BEAM_FEATURES.index(name)] = np.clip(features[:, dc.BEAM_FEATURES.index(name)], 10.0, 90.0)
    decoded = dc.decode(features, rotation, batch.masses[:1000], "beam-poles")
    assert np.all(np.isfinite(decoded))
    again, _ = dc.encode(decoded, "beam-poles")
    np.testing.assert_allclose(again, features, atol=1e-6)


def test_shaping_round_trip_and_thresholds(hvq_lo):
    batch, momenta = hvq_lo
    features, rotation = dc.encode(momenta)
    shaped = dc.shape(features)
    assert np.all(np.isfinite(shaped))
    np.testing.assert_allclose(dc.unshape(shaped), features, rtol=1e-10, atol=1e-10)
    # far above threshold the coordinate is asinh((m - M) / Gamma): 0 at the pole, asinh(1) one width above
    mass, width = dc._RESONANCES["m_t"]
    probe = np.repeat(features[:1], 2, axis=0)
    probe[:, dc.FEATURES.index("m_t_top")] = [mass, mass + width]
    np.testing.assert_allclose(dc.shape(probe)[:, dc.FEATURES.index("m_t_top")], [0.0, np.arcsinh(1.0)], atol=0.01)
    # every network output is above the two-body thresholds: m_W > 0 and m_t > m_W + m_b
    anything = dc.unshape(np.random.default_rng(5).normal(0.0, 6.0, (100_000, 15)))
    for side in SIDES:
        m_top, m_w = column(anything, f"m_t_{side}"), column(anything, f"m_W_{side}")
        assert np.all(m_w > 0) and np.all(m_top >= (m_w + 4.75) * (1 - 1e-12))
    # decode checks the thresholds itself (raw coordinates, or a b quark heavier than 4.75 GeV): NaN momenta
    light = features[:3].copy()
    light[1, dc.FEATURES.index("m_t_top")] = light[1, dc.FEATURES.index("m_W_top")] + 1.0  # below m_W + m_b
    light[2, dc.FEATURES.index("m_t_tbar")] = 20.0  # far below: both factors of the Kallen function negative
    decoded = dc.decode(light, rotation[:3], batch.masses[:3])
    assert np.isnan(decoded[1]).any() and np.isnan(decoded[2]).any() and np.all(np.isfinite(decoded[0]))


def test_half_width_flattening_turns_a_breit_wigner_into_a_sech_law(hvq_lo):
    # masses drawn from a Breit-Wigner (Cauchy, half width Gamma/2) by the inverse CDF at probabilities q: with
    # s = Gamma/2, u = asinh((m - M)/s) has the law 1/(pi cosh u), whose CDF (2/pi) arctan(e^u) gives q back
    mass, width = dc._RESONANCES["m_t"]
    q = np.linspace(0.2, 0.8, 61)
    masses = mass + width / 2 * np.tan(np.pi * (q - 0.5))
    threshold = dc._RESONANCES["m_W"][0] + 4.75  # the inverse softplus shifts u by less than 0.015 here

    def cdf(scale):
        return 2 / np.pi * np.arctan(np.exp(dc._mass_to_line(masses, (mass, width), threshold, scale)))

    assert np.max(np.abs(cdf("half-width") - q)) < 0.005
    assert np.max(np.abs(cdf("width") - q)) > 0.05  # the full width leaves a peak twice as sharp
    _, momenta = hvq_lo
    features = dc.encode(momenta, "beam-poles")[0]
    shaped = dc.shape(features, "beam-poles", "half-width")
    np.testing.assert_allclose(dc.unshape(shaped, "beam-poles", "half-width"), features, rtol=1e-10, atol=1e-10)
    assert not np.allclose(shaped, dc.shape(features, "beam-poles"))


def test_preprocessor_records_its_representation(hvq_lo):
    _, momenta = hvq_lo
    chain = get("decay-chain")
    features = chain.encode(momenta).features
    pre = Preprocessor.fit(features, "decay-chain")
    data = pre.to_dict()
    assert data["representation"] == "decay-chain" and data["features"] == dc.FEATURES
    assert get("decay-chain-beams").features == dc.BEAM_FEATURES and dc.BEAM_FEATURES[4:6] == ["rho_b_top", "psi_b_top"]
    restored = Preprocessor.from_dict(data)
    np.testing.assert_allclose(restored.inverse(restored.forward(features)), features, rtol=1e-10, atol=1e-10)
    # model directories written before representations existed hold 17 particle features and no name
    particles = Preprocessor.fit(get("particles").encode(momenta).features)
    legacy = {k: v for k, v in particles.to_dict().items() if k != "representation"}
    assert Preprocessor.from_dict(legacy).representation.name == "particles"
    with pytest.raises(ValueError, match="different feature layout"):
        Preprocessor.from_dict({**data, "representation": "particles"})
    with pytest.raises(ValueError, match="unknown representation"):
        get("jets")
    # the Breit-Wigner scale is recorded where it is not the default, and only decay-chain coordinates have one
    assert "breit_wigner_scale" not in data
    half = Preprocessor.fit(features, "decay-chain", "half-width")
    assert half.to_dict()["breit_wigner_scale"] == "half-width"
    assert Preprocessor.from_dict(half.to_dict()).representation.breit_wigner_scale == "half-width"
    assert Preprocessor.from_dict(data).representation.breit_wigner_scale == "width"
    assert get("decay-chain").breit_wigner_scale == "width"  # the shared instance is not changed
    with pytest.raises(ValueError, match="no resonance masses"):
        get("particles", "half-width")
    with pytest.raises(ValueError, match="unknown Breit-Wigner scale"):
        get("decay-chain", "quarter")
