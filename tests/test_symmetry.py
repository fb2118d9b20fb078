"""Beam-exchange symmetrisation: the rotation, the seeded half, the per-half classifier weight and the
transform option."""

from statistics import NormalDist

import numpy as np
import pytest
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.symmetry import beam_exchange, mirrored_events
from lhe_didi.reweight import WEIGHT_ID, ClassifierModel
from lhe_didi.transform import DEFAULT_MODEL, DidiModel, Solver, transform_batch

QUICK = ["--epochs", "2", "--width", "16", "--depth", "2", "--batch-size", "256", "--device", "cpu"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _minkowski(a, b):
    return a[..., 0] * b[..., 0] - np.sum(a[..., 1:] * b[..., 1:], axis=-1)


def test_beam_exchange_is_a_proper_rotation_that_flips_rapidity():
    rng = np.random.default_rng(3)
    p = rng.normal(size=(1000, 3, 4)) * 50
    p[..., 0] = np.sqrt(np.sum(p[..., 1:] ** 2, axis=-1) + 10.0**2)
    r = beam_exchange(p)
    np.testing.assert_array_equal(beam_exchange(r), p)  # an involution
    np.testing.assert_allclose(_minkowski(r[:, 0], r[:, 1]), _minkowski(p[:, 0], p[:, 1]), rtol=1e-12)
    np.testing.assert_allclose(np.hypot(r[..., 1], r[..., 2]), np.hypot(p[..., 1], p[..., 2]), rtol=1e-12)
    rapidity = 0.5 * np.log((p[..., 0] + p[..., 3]) / (p[..., 0] - p[..., 3]))
    mirrored = 0.5 * np.log((r[..., 0] + r[..., 3]) / (r[..., 0] - r[..., 3]))
    np.testing.assert_allclose(mirrored, -rapidity, atol=1e-12)
    # a rotation, not a reflection: the spatial triple product (a parity-odd quantity) keeps its sign
    triple = np.einsum("ni,ni->n", p[:, 0, 1:], np.cross(p[:, 1, 1:], p[:, 2, 1:]))
    triple_r = np.einsum("ni,ni->n", r[:, 0, 1:], np.cross(r[:, 1, 1:], r[:, 2, 1:]))
    np.testing.assert_allclose(triple_r, triple, rtol=1e-9)


def test_mirrored_events_are_a_seeded_half_independent_of_chunking():
    index = np.arange(200_000)
    mask = mirrored_events(index, seed=0)
    assert abs(mask.mean() - 0.5) < 0.005  # 4.5 sigma of a fair coin
    np.testing.assert_array_equal(np.concatenate([mirrored_events(c, 0) for c in np.array_split(index, 7)]), mask)
    other = mirrored_events(index, seed=1)
    assert abs(np.mean(mask == other) - 0.5) < 0.005  # a different seed draws an independent half
    assert abs(np.mean(mask[1:] == mask[:-1]) - 0.5) < 0.005  # neighbours uncorrelated


def test_weights_at_the_networks_own_output_move_a_symmetrised_sample_onto_the_truth():
    """1-D toy with R: x -> -x. Truth N(0, 1) is R-invariant; the generator g = N(0.4, 1.2) is not; w = t/g exactly.
    Mirroring half of g's events gives (g(x) + g(-x))/2; each mirrored event weighted with w at its unmirrored
    value -x lands on the truth, while w(x) for every event does not."""
    rng = np.random.default_rng(11)

    def w(x):
        return np.exp(-0.5 * x**2 + 0.5 * ((x - 0.4) / 1.2) ** 2 + np.log(1.2))

    own = rng.normal(0.4, 1.2, size=400_000)
    mirrored = rng.random(own.size) < 0.5
    x = np.where(mirrored, -own, own)
    edges = np.linspace(-3, 3, 25)
    truth = np.diff([NormalDist().cdf(e) for e in edges]) * x.size

    def chi2_ndf(weights):
        content, _ = np.histogram(x, edges, weights=weights)
        variance, _ = np.histogram(x, edges, weights=weights**2)
        return np.mean((content - truth) ** 2 / variance)

    assert chi2_ndf(w(own)) < 2.0
    assert chi2_ndf(w(x)) > 20.0


def test_mirrored_events_are_the_mirror_image_of_the_mapped_mirror_event(example_lo_path):
    model = DidiModel(DEFAULT_MODEL, "cpu")
    model.top_mass = 172.5  # the shipped model is mass-conditional; transform_file sets it from the header
    batch = LheReader(example_lo_path).read_all()
    beams = LheReader(example_lo_path).header.beam_energies
    everything = np.ones(len(batch), dtype=bool)
    mirrored, bad_mirrored = transform_batch(model, batch, Solver(), beams, mirrored=everything)
    exchanged, bad_exchanged = transform_batch(model, batch.with_momenta(beam_exchange(batch.momenta)), Solver(), beams)
    np.testing.assert_array_equal(bad_mirrored, bad_exchanged)
    np.testing.assert_allclose(mirrored.momenta, beam_exchange(exchanged.momenta), rtol=1e-9, atol=1e-9)
    plain, _ = transform_batch(model, batch, Solver(), beams)
    both, in_plain, in_mirrored = np.intersect1d(plain.source_index, mirrored.source_index, return_indices=True)
    assert len(both) > 990  # the network is not R-symmetric by itself:
    assert np.median(np.abs(plain.momenta[in_plain] - mirrored.momenta[in_mirrored])) > 0.1


def test_transform_beam_symmetrise_records_itself_and_reweight_follows(tmp_path, example_lo_path):
    symmetrised, plain = tmp_path / "sym.lhe", tmp_path / "plain.lhe"
    result = run("transform", example_lo_path, "-o", symmetrised, "--beam-symmetrise", "--device", "cpu")
    assert result.exit_code == 0, result.output
    events = LheReader(symmetrised).read_all()
    header = LheReader(symmetrised).header
    assert header.didi_mirror_seed == 0 and "beam-symmetrised" in header.preamble
    assert (
        "transform (DiDi " in (summary := run("inspect", symmetrised).output) and "beam-symmetrised, seed 0" in summary
    )
    classifier = ClassifierModel(header.lhe_didi_provenance[-1]["classifier"]["directory"], "cpu")
    mirrored = mirrored_events(events.source_index, seed=0)
    own_output = events.momenta.copy()
    own_output[mirrored] = beam_exchange(own_output[mirrored])
    mass = header.didi_top_mass  # the shipped pair is mass-conditional
    expected = classifier.weights(own_output, clip=15.0, top_mass=mass)
    np.testing.assert_allclose(events.named_weights[WEIGHT_ID], expected, rtol=1e-6)
    np.testing.assert_allclose(classifier.weights(events.momenta, 15.0, mirrored, mass), expected, rtol=1e-12)
    assert np.abs(expected - classifier.weights(events.momenta, clip=15.0, top_mass=mass))[mirrored].min() > 0

    unweighted = tmp_path / "sym_unweighted.lhe"
    assert run("transform", example_lo_path, "-o", unweighted, "--beam-symmetrise", "--no-classifier").exit_code == 0
    reweighted = tmp_path / "reweighted.lhe"
    result = run("reweight", unweighted, "-o", reweighted)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(LheReader(reweighted).read_all().named_weights[WEIGHT_ID], expected, rtol=1e-6)

    assert run("transform", example_lo_path, "-o", plain, "--no-classifier", "--no-beam-symmetrise").exit_code == 0
    result = run("merge", plain, unweighted, "-o", tmp_path / "mixed.lhe")
    assert result.exit_code == 1 and "beam symmetrisation" in result.output and not (tmp_path / "mixed.lhe").exists()


def test_classifier_trained_on_symmetrised_output_refuses_plain_output(tmp_path, example_lo_path):
    generated = tmp_path / "sym.lhe"
    assert run("transform", example_lo_path, "-o", generated, "--beam-symmetrise", "--no-classifier").exit_code == 0
    result = run("train", "classifier", example_lo_path, generated, "-o", tmp_path / "clf", *QUICK)
    assert result.exit_code == 0, result.output
    classifier = ClassifierModel(tmp_path / "clf", "cpu")
    assert classifier.trained_on_beam_symmetrised
    events = LheReader(generated).read_all()
    mirrored = mirrored_events(events.source_index, seed=0)
    # trained on symmetrised output, it estimates truth / symmetrised density: evaluated where the events are
    np.testing.assert_array_equal(
        classifier.weights(events.momenta, mirrored=mirrored), classifier.weights(events.momenta, mirrored=~mirrored)
    )
    with pytest.raises(Exception, match="beam-symmetrised"):
        classifier.weights(events.momenta)
    result = run(
        "transform",
        example_lo_path,
        "-o",
        tmp_path / "plain.lhe",
        "--classifier",
        tmp_path / "clf",
        "--no-beam-symmetrise",
    )
    assert result.exit_code == 1 and "beam-symmetrised" in result.output and not (tmp_path / "plain.lhe").exists()
