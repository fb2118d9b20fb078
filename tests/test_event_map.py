"""Event map: 6 x (pT, eta, phi) <-> 17-D/15-D, exact inverse, rotation, preprocessing."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lhe_didi.kinematics import event_map as em
from lhe_didi.kinematics.representation import Preprocessor

MASSES = np.array([4.75, 0.00051, 0.0, 4.75, 0.1057, 0.0])


def random_events(seed: int, n: int, with_recoil: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exactly balanced events: five random particles, nu~ (and optional extra parton) closing pT balance."""
    rng = np.random.default_rng(seed)
    pt = rng.uniform(0.5, 800.0, (n, 6))
    eta = rng.uniform(-6.0, 6.0, (n, 6))
    phi = rng.uniform(-np.pi, np.pi, (n, 6))
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    recoil = rng.normal(0.0, 50.0, (n, 2)) if with_recoil else np.zeros((n, 2))
    px[:, 5] = -(px[:, :5].sum(1) + recoil[:, 0])
    py[:, 5] = -(py[:, :5].sum(1) + recoil[:, 1])
    pz = np.hypot(px, py) * np.sinh(eta)
    masses = np.broadcast_to(MASSES, (n, 6))
    energy = np.sqrt(px**2 + py**2 + pz**2 + masses**2)
    return np.stack([energy, px, py, pz], axis=-1), masses, recoil


def assert_close_per_particle(actual, expected, rtol):
    scale = expected[..., :1]  # the particle's energy
    assert np.all(np.abs(actual - expected) <= rtol * scale), np.max(np.abs(actual - expected) / scale)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), with_recoil=st.booleans(), physical=st.booleans())
def test_round_trip_is_exact(seed, with_recoil, physical):
    momenta, masses, recoil = random_events(seed, 64, with_recoil)
    encoded = em.encode(momenta)
    columns = em.PHYSICAL_COLUMNS if physical else slice(None)
    decoded = em.decode(encoded.features[:, columns], encoded.rotation, masses, recoil)
    assert_close_per_particle(decoded, momenta, 1e-9)
    # keeping nu~ and balancing by a boost is the identity on balanced events
    boosted = em.decode(encoded.features, encoded.rotation, masses, recoil, neutrino="boost")
    assert_close_per_particle(boosted, momenta, 1e-9)


def test_boost_balance_keeps_invariant_masses_and_restores_balance():
    from lhe_didi.kinematics.observables import system_masses

    momenta, masses, recoil = random_events(3, 500, True)
    features = em.encode(momenta).features
    features[:, em.TRAINING_FEATURES.index("pt_nubar")] *= 1.2  # an unbalanced network output
    rotation = em.encode(momenta).rotation
    unbalanced = em.decode(features, rotation, masses, np.zeros((500, 2)), neutrino="boost")
    balanced = em.decode(features, rotation, masses, recoil, neutrino="boost")
    np.testing.assert_allclose(balanced[:, :, 1:3].sum(axis=1), -recoil, atol=1e-8)
    for name, values in system_masses(balanced).items():
        np.testing.assert_allclose(
            values, system_masses(unbalanced)[name], rtol=1e-7
        )  # m^2 = E^2 - p^2 at TeV energies


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), angle=st.floats(-10.0, 10.0))
def test_features_are_invariant_under_azimuthal_rotation(seed, angle):
    momenta, masses, _ = random_events(seed, 32, False)
    c, s = np.cos(angle), np.sin(angle)
    rotated = momenta.copy()
    rotated[..., 1] = c * momenta[..., 1] - s * momenta[..., 2]
    rotated[..., 2] = s * momenta[..., 1] + c * momenta[..., 2]
    a, b = em.encode(momenta), em.encode(rotated)
    diff = a.features - b.features
    phi = em.PHI_COLUMNS
    diff[:, phi] = em.wrap_phi(diff[:, phi])
    np.testing.assert_allclose(diff, 0.0, atol=1e-9)
    np.testing.assert_allclose(em.wrap_phi(b.rotation - a.rotation - angle), 0.0, atol=1e-9)
    # decoding restores each event's own orientation
    assert_close_per_particle(em.decode(b.features, b.rotation, masses), rotated, 1e-9)


def test_layout_dimensions():
    assert len(em.TRAINING_FEATURES) == 17 and len(em.PHYSICAL_FEATURES) == 15
    assert "phi_lp" not in em.TRAINING_FEATURES  # the reference particle's azimuth is rotated away
    assert {"pt_nubar", "phi_nubar"} == set(em.TRAINING_FEATURES) - set(em.PHYSICAL_FEATURES)


def test_reference_particle_has_zero_azimuth_after_rotation():
    momenta, masses, _ = random_events(1, 100, False)
    encoded = em.encode(momenta)
    np.testing.assert_allclose(encoded.rotation, np.arctan2(momenta[:, 1, 2], momenta[:, 1, 1]))
    assert np.all(np.abs(encoded.features[:, em.PHI_COLUMNS]) <= np.pi)


def test_preprocessing_round_trip_and_standardisation():
    momenta, _, _ = random_events(7, 5000, True)
    features = em.encode(momenta).features
    pre = Preprocessor.fit(features)
    z = pre.forward(features)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-10)
    np.testing.assert_allclose(pre.inverse(z), features, rtol=1e-12, atol=1e-12)
    # pT^(1/3) and arctanh(phi/pi) are what is standardised
    shaped = em.shape(features)
    np.testing.assert_allclose(shaped[:, em.PT_COLUMNS], np.cbrt(features[:, em.PT_COLUMNS]))
    np.testing.assert_allclose(shaped[:, em.PHI_COLUMNS], np.arctanh(features[:, em.PHI_COLUMNS] / np.pi))
    restored = Preprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(restored.mean, pre.mean)


def test_phi_at_pi_stays_finite():
    features = np.zeros((2, 17)) + 1.0
    features[:, em.PHI_COLUMNS] = np.array([[np.pi] * 5, [-np.pi] * 5])
    shaped = em.shape(features)
    assert np.all(np.isfinite(shaped))
    np.testing.assert_allclose(em.unshape(shaped)[:, em.PHI_COLUMNS], features[:, em.PHI_COLUMNS], rtol=1e-14)


def test_real_hvq_round_trip(nlo_batch):
    """LHE -> 15-D -> momenta on real POWHEG NLO events (extra parton recoil included).

    The five encoded particles come back to 1e-9 of their energy (the file prints
    10 significant digits). nu~ is rebuilt from transverse-momentum balance, so
    it can differ only by the file's own printed-precision imbalance.
    """
    encoded = em.encode(nlo_batch.momenta)
    decoded = em.decode(
        encoded.features[:, em.PHYSICAL_COLUMNS],
        encoded.rotation,
        nlo_batch.masses,
        nlo_batch.extra_transverse_momentum,
    )
    assert_close_per_particle(decoded[:, :5], nlo_batch.momenta[:, :5], 1e-9)
    imbalance = np.hypot(*(nlo_batch.momenta[:, :, 1:3].sum(axis=1) + nlo_batch.extra_transverse_momentum).T)
    assert imbalance.max() < 2e-7
    nubar, nubar_file = decoded[:, 5], nlo_batch.momenta[:, 5]
    pt_file = np.hypot(nubar_file[:, 1], nubar_file[:, 2])
    allowed = imbalance * (1.0 + np.abs(nubar_file[:, 3]) / pt_file) + 1e-9 * nubar_file[:, 0]
    assert np.all(np.abs(nubar - nubar_file).max(axis=1) <= allowed)


def test_classifier_observables_are_the_papers_27(nlo_batch):
    from lhe_didi.kinematics.observables import classifier_observables, classifier_preprocessing, system_masses

    names, values = classifier_observables(nlo_batch.momenta)
    assert values.shape == (len(nlo_batch), 27) and len(set(names)) == 27
    assert names[:15] == em.PHYSICAL_FEATURES
    np.testing.assert_allclose(values[:, names.index("m_tbar")], system_masses(nlo_batch.momenta)["tbar"])
    top = nlo_batch.momenta[:, :3].sum(axis=1)
    np.testing.assert_allclose(values[:, names.index("pt_t")], np.hypot(top[:, 1], top[:, 2]))
    shaped = classifier_preprocessing(names, values)
    i = names.index("pt_b")
    np.testing.assert_allclose(shaped[:, i], values[:, i] ** (-1 / 3))
    np.testing.assert_array_equal(shaped[:, names.index("eta_b")], values[:, names.index("eta_b")])
