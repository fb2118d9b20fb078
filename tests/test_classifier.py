"""Classifier reweighting and the validate report: AUC, weights ~ 1 on identical samples, clipping,
named weights in LHE files, report contents."""

import itertools
import json
from statistics import NormalDist

import numpy as np
import pytest
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.errors import LheDidiError
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics import histories
from lhe_didi.kinematics.event_map import wrap_phi
from lhe_didi.kinematics.observables import classifier_observables
from lhe_didi.kinematics.symmetry import beam_exchange
from lhe_didi.models.classifier import logits_of, weights_from_logits
from lhe_didi.reweight import DEFAULT_CLASSIFIER, WEIGHT_ID, ClassifierModel, WeightSummary
from lhe_didi.training.classifier import (
    TAIL_EMPHASIS_QUANTILE,
    ClassifierSettings,
    fit_classifier,
    tail_emphasis_factors,
    weighted_auc,
)
from lhe_didi.training.data import load_observable_sample
from lhe_didi.transform import DEFAULT_MODEL, DidiModel
from lhe_didi.validation.far_tails import (
    FORWARD_B_BINS,
    far_tail_lines,
    far_tail_ratios,
    far_tails_by_sample,
    pooled_ratio,
)
from lhe_didi.validation.far_tails import main as far_tails_main
from lhe_didi.validation.metrics import (
    TOLERANCE,
    binning,
    compare_to_truth,
    expected_difference_error,
    histogram_table,
    inside,
    look_elsewhere_sigmas,
    perfect_sample_excess,
    score,
)

QUICK = ["--epochs", "3", "--width", "16", "--depth", "2", "--batch-size", "256", "--device", "cpu"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def didi_output(tmp_path_factory, example_lo_path):
    """The shipped DiDi model applied to the bundled hvq example, without classifier weights or beam symmetrisation."""
    out = tmp_path_factory.mktemp("didi") / "didi.lhe"
    result = run("transform", example_lo_path, "-o", out, "--no-classifier", "--no-beam-symmetrise", "--device", "cpu")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def quick_classifier(tmp_path_factory, example_lo_path, didi_output):
    """A small classifier trained in seconds: hvq example (as 'truth') against its DiDi output."""
    out = tmp_path_factory.mktemp("classifier") / "clf"
    result = run("train", "classifier", example_lo_path, didi_output, "-o", out, *QUICK)
    assert result.exit_code == 0, result.output
    return out


def test_weighted_auc_matches_pairwise_definition():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, 40).astype(float)  # many ties
    labels = rng.random(40) < 0.4
    weights = rng.random(40) + 0.1
    numerator = 0.0
    for i, j in itertools.product(np.flatnonzero(labels), np.flatnonzero(~labels)):
        numerator += (
            weights[i] * weights[j] * (1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0)
        )
    expected = numerator / (weights[labels].sum() * weights[~labels].sum())
    assert weighted_auc(scores, labels, weights) == pytest.approx(expected, rel=1e-12)
    assert weighted_auc(np.arange(10.0), np.arange(10) >= 5) == 1.0


def test_samples_of_one_distribution_give_weights_near_one(hvq_lo_path):
    """Two disjoint halves of one real hvq sample: nothing to learn, so C ~ 1/2 and w ~ 1 (the
    classifier is trained: its validation loss is scored every epoch and the best epoch kept)."""
    reader = LheReader(hvq_lo_path)
    momenta = next(reader.batches(40_000)).momenta
    names, values = classifier_observables(momenta)
    settings = ClassifierSettings(width=32, depth=2, epochs=15, batch_size=1024, patience=5, device="cpu")
    fitted = fit_classifier(names, values[:20_000], values[20_000:], settings, progress=False)
    assert len(fitted.history) > 5
    w = weights_from_logits(logits_of(fitted.network, fitted.scaler, momenta, fitted.device))
    assert abs(np.mean(w) - 1.0) < 0.03
    assert np.quantile(np.abs(w - 1.0), 0.99) < 0.15
    assert abs(fitted.validation_auc - 0.5) < 0.03


@pytest.mark.parametrize("tail_emphasis", [1.0, 20.0])
def test_weights_recover_a_known_density_ratio(hvq_lo_path, tail_emphasis):
    """'Generated' = real hvq events kept with probability a(x) = exp(-pT(l+)/100 GeV), so the exact
    weight is p_truth/p_generated = <a>/a(x). The learned w follows it and undoes the pT(l+) bias,
    with and without tail emphasis (a loss factor common to both classes must not bias the weight)."""
    momenta = next(LheReader(hvq_lo_path).batches(60_000)).momenta
    names, values = classifier_observables(momenta)
    column = names.index("pt_lp")
    truth, pool = values[:20_000], values[20_000:]
    acceptance = np.exp(-pool[:, column] / 100.0)
    keep = np.random.default_rng(0).random(len(pool)) < acceptance
    exact = acceptance.mean() / acceptance[keep]
    settings = ClassifierSettings(
        width=32, depth=2, epochs=20, batch_size=512, device="cpu", tail_emphasis=tail_emphasis
    )
    fitted = fit_classifier(names, truth, pool[keep], settings, progress=False)
    w = weights_from_logits(logits_of(fitted.network, fitted.scaler, momenta[20_000:][keep], fitted.device))
    assert np.median(np.abs(w / exact - 1)) < 0.15
    assert np.corrcoef(np.log(w), np.log(exact))[0, 1] > 0.8
    truth_mean = truth[:, column].mean()
    assert pool[keep, column].mean() / truth_mean < 0.85  # the bias to undo
    assert abs(np.average(pool[keep, column], weights=w) / truth_mean - 1) < 0.05


def test_tail_emphasis_factors_follow_truth_hardness_quantiles():
    """g = min(cap, max(1, q / s)), s = fraction of truth at least as hard (largest pT column): 1 below
    truth's 1 - q quantile, q / s in the hardest q, the cap beyond; eta columns play no part; cap 1 is off."""
    names = ["pt_a", "eta_a", "pt_b"]
    n = 100_000
    rng = np.random.default_rng(1)
    truth = np.column_stack([rng.exponential(50.0, n), rng.normal(size=n), rng.exponential(30.0, n)])
    hardness = np.sort(truth[:, [0, 2]].max(axis=1))
    probe = np.array([hardness[n // 2], hardness[n - 250], hardness[n - 10], 10 * hardness[-1]])
    values = np.column_stack([probe, [9.0, -9.0, 0.0, 3.0], np.zeros(4)])
    q = TAIL_EMPHASIS_QUANTILE
    expected = [1.0, min(20.0, q / 0.0025), 20.0, 20.0]  # 50%, 0.25%, 0.01%, none of truth at least as hard
    factors = tail_emphasis_factors(names, truth, values, cap=20.0)
    assert factors == pytest.approx(expected)
    values[:, [0, 2]] = values[:, [2, 0]]  # hardness is the largest pT, whichever column holds it
    assert tail_emphasis_factors(names, truth, values, cap=20.0) == pytest.approx(factors)
    assert np.all(tail_emphasis_factors(names, truth, values, cap=1.0) == 1.0)
    # a weighted reference (a tail-biased sample) counts its weight: weight 2 on a row = the row twice
    doubled = truth[:, 0] > np.median(truth[:, 0])
    weights = np.where(doubled, 2.0, 1.0)
    assert tail_emphasis_factors(names, truth, values, 20.0, weights) == pytest.approx(
        tail_emphasis_factors(names, np.concatenate([truth, truth[doubled]]), values, 20.0)
    )


def test_beam_exchanged_observables_flip_rapidities_and_relative_azimuths(example_lo_path):
    """R = rotation by pi about x: eta -> -eta and the azimuths relative to l+ change sign; pT and masses stay."""
    sample = load_observable_sample(example_lo_path, 500, mirrored=True)
    flipped = np.array([name.startswith(("eta_", "phi_")) for name in sample.names])
    azimuth = np.array([name.startswith("phi_") for name in sample.names])
    assert flipped.sum() == 10 and azimuth.sum() == 4
    difference = sample.mirrored_values - np.where(flipped, -1.0, 1.0) * sample.values
    difference[:, azimuth] = wrap_phi(difference[:, azimuth])
    assert np.abs(difference).max() < 1e-9 * np.abs(sample.values).max()


def test_beam_augmentation_learns_a_beam_symmetric_ratio(hvq_lo_path):
    """'Generated' = hvq events kept with probability a(x) = exp(-pT(l+)/100 GeV), which is symmetric under the beam
    exchange R, so the exact weight <a>/a(x) is too. With each event used as x or R x at random the learned logit
    is closer to R-invariant than without (mean |logit(x) - logit(R x)| 0.048 vs 0.085 at 10 epochs; seed 1:
    0.066 vs 0.091), and it still follows the exact ratio."""
    momenta = next(LheReader(hvq_lo_path).batches(60_000)).momenta
    names, values = classifier_observables(momenta)
    _, mirrored = classifier_observables(beam_exchange(momenta))
    column = names.index("pt_lp")
    acceptance = np.exp(-values[20_000:, column] / 100.0)
    keep = np.flatnonzero(np.random.default_rng(0).random(len(acceptance)) < acceptance) + 20_000
    exact = acceptance.mean() / acceptance[keep - 20_000]
    settings = ClassifierSettings(width=32, depth=2, epochs=10, patience=100, batch_size=512, device="cpu")
    plain = fit_classifier(names, values[:20_000], values[keep], settings, progress=False)
    augmented = fit_classifier(
        names,
        values[:20_000],
        values[keep],
        settings,
        progress=False,
        truth_mirrored=mirrored[:20_000],
        generated_mirrored=mirrored[keep],
    )

    def asymmetry(fitted):
        logit = logits_of(fitted.network, fitted.scaler, momenta[keep], fitted.device)
        return np.mean(
            np.abs(logit - logits_of(fitted.network, fitted.scaler, beam_exchange(momenta[keep]), fitted.device))
        )

    assert asymmetry(augmented) < 0.8 * asymmetry(plain)
    w = weights_from_logits(logits_of(augmented.network, augmented.scaler, momenta[keep], augmented.device))
    assert np.median(np.abs(w / exact - 1)) < 0.15 and np.corrcoef(np.log(w), np.log(exact))[0, 1] > 0.8
    with pytest.raises(ValueError, match="both samples"):
        fit_classifier(names, values[:100], values[100:200], settings, progress=False, truth_mirrored=mirrored[:100])


def test_beam_augmentation_follows_the_generated_sample(tmp_path, example_lo_path, didi_output, quick_classifier):
    """Default: augment beam-symmetrised DiDi output, not plain output; asking for it on plain output is refused."""
    assert json.loads((quick_classifier / "config.json").read_text())["training"]["beam_augment"] is False
    refused = run("train", "classifier", example_lo_path, didi_output, "-o", tmp_path / "a", "--beam-augment", *QUICK)
    assert refused.exit_code == 1 and "needs beam-symmetrised DiDi output" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and not (tmp_path / "a").exists()
    symmetrised = tmp_path / "symmetrised.lhe"
    assert run("transform", example_lo_path, "-o", symmetrised, "--no-classifier", "--device", "cpu").exit_code == 0
    result = run("train", "classifier", example_lo_path, symmetrised, "-o", tmp_path / "b", *QUICK)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["training"]["beam_augment"] is True and config["data"]["generated"]["beam_symmetrised"] is True
    assert "beam-exchange augmentation (each event" in (tmp_path / "b" / "MODEL_CARD.md").read_text()


def test_weights_are_exp_logit_and_clipped():
    logits = np.array([-2.0, 0.0, 1.0, 5.0, 1000.0])
    np.testing.assert_allclose(weights_from_logits(logits, None)[:4], np.exp(logits[:4]))
    clipped = weights_from_logits(logits, 15.0)
    np.testing.assert_allclose(clipped, [np.exp(-2.0), 1.0, np.e, 15.0, 15.0])
    sigmoid = 1 / (1 + np.exp(-logits[:4]))
    np.testing.assert_allclose(clipped[:3], (sigmoid / (1 - sigmoid))[:3])


def test_shipped_classifier_belongs_to_the_shipped_didi_model():
    didi_model = DidiModel(DEFAULT_MODEL, "cpu")  # both loads verify the content hash
    assert ClassifierModel(DEFAULT_CLASSIFIER, "cpu").didi_model_hash == didi_model.content_hash
    assert didi_model.config["preprocessing"]["representation"] == "decay-chain-beams"
    assert didi_model.representation.breit_wigner_scale == "half-width"


def test_classifier_model_directory_is_verified(quick_classifier):
    model = ClassifierModel(quick_classifier, "cpu")
    card = (quick_classifier / "MODEL_CARD.md").read_text()
    assert model.content_hash in card and "AUC" in card
    assert model.didi_model_hash == DidiModel(DEFAULT_MODEL, "cpu").content_hash  # read from the DiDi file's header
    with pytest.raises(LheDidiError, match="holds a classifier model, expected didi"):
        DidiModel(quick_classifier, "cpu")
    config = json.loads((quick_classifier / "config.json").read_text())
    config["training"]["lr"] = 0.5
    (quick_classifier.parent / "tampered").mkdir()
    (quick_classifier.parent / "tampered" / "config.json").write_text(json.dumps(config))
    (quick_classifier.parent / "tampered" / "weights.safetensors").write_bytes(
        (quick_classifier / "weights.safetensors").read_bytes()
    )
    with pytest.raises(LheDidiError, match="content hash mismatch"):
        ClassifierModel(quick_classifier.parent / "tampered", "cpu")


def test_weights_in_lhe_survive_read_back_and_clip_is_honoured(
    tmp_path, example_lo_path, didi_output, quick_classifier
):
    out = tmp_path / "weighted.lhe"
    result = run(
        "transform",
        example_lo_path,
        "-o",
        out,
        "--classifier",
        quick_classifier,
        "--no-beam-symmetrise",
        "--device",
        "cpu",
        "--weight-clip",
        "1.0",
    )
    assert result.exit_code == 0, result.output
    events = LheReader(out).read_all()
    plain = LheReader(didi_output).read_all()
    np.testing.assert_array_equal(events.source_index, plain.source_index)
    w = events.named_weights[WEIGHT_ID]
    expected = ClassifierModel(quick_classifier, "cpu").weights(events.momenta, clip=1.0)
    np.testing.assert_allclose(w, expected, rtol=1e-6)  # 11 printed digits vs float32 network
    assert w.max() <= 1.0 and (w == 1.0).any() and (w < 1.0).any()
    np.testing.assert_array_equal(events.weight, plain.weight)  # --keep-nominal is the default
    header = LheReader(out).header
    assert (
        WEIGHT_ID in header.weight_ids
        and "clipped at 1" in header.preamble
        and "not applied to XWGTUP" in header.preamble
    )
    summary = run("inspect", out)
    assert summary.exit_code == 0 and f"weight {WEIGHT_ID}" in summary.output and "range" in summary.output

    multiplied = tmp_path / "multiplied.lhe"
    result = run(
        "reweight",
        didi_output,
        "-o",
        multiplied,
        "--classifier",
        quick_classifier,
        "--multiply-nominal",
        "--no-weight-clip",
    )
    assert result.exit_code == 0, result.output
    again = LheReader(multiplied).read_all()
    w = again.named_weights[WEIGHT_ID]
    np.testing.assert_allclose(again.weight, plain.weight * w, rtol=1e-9)
    np.testing.assert_array_equal(again.momenta, plain.momenta)
    result = run("reweight", multiplied, "-o", tmp_path / "twice.lhe", "--classifier", quick_classifier)
    assert result.exit_code == 1 and "already carries" in result.output and not (tmp_path / "twice.lhe").exists()


def test_ensemble_weight_is_the_mean_of_its_members(tmp_path, example_lo_path, didi_output, quick_classifier):
    out = tmp_path / "ensemble"
    result = run("train", "classifier", example_lo_path, didi_output, "-o", out, *QUICK, "--members", "3")
    assert result.exit_code == 0, result.output
    assert all(f"seed {k} best epoch" in result.output for k in range(3))
    ensemble = ClassifierModel(out, "cpu")
    members = ensemble.network.members
    assert len(members) == 3 and ensemble.config["architecture"]["members"] == 3
    momenta = LheReader(didi_output).read_all().momenta
    each = np.stack(
        [weights_from_logits(logits_of(m, ensemble.scaler, momenta, ensemble.device), None) for m in members]
    )
    np.testing.assert_allclose(ensemble.weights(momenta, clip=None), each.mean(axis=0), rtol=1e-6)
    assert np.ptp(each, axis=0).max() > 1e-3  # members differ (seeds 0, 1, 2)
    # member 0 is the single network of seed 0: same split, initialisation and batch order
    single = ClassifierModel(quick_classifier, "cpu")
    for key, value in single.network.state_dict().items():
        np.testing.assert_array_equal(members[0].state_dict()[key].numpy(), value.numpy(), err_msg=key)
    training = ensemble.config["training"]
    assert [m["seed"] for m in training["members"]] == [0, 1, 2] and 0.0 <= training["validation_auc"] <= 1.0
    assert "ensemble of 3 members" in (out / "MODEL_CARD.md").read_text()


def test_train_alias_and_classifier_errors(tmp_path, example_lo_path):
    result = run("train", "classifier", example_lo_path, tmp_path / "missing.lhe", "-o", tmp_path / "c", *QUICK)
    assert result.exit_code == 1 and "no such file" in result.output and not (tmp_path / "c").exists()
    result = run("reweight", example_lo_path, "-o", tmp_path / "r.lhe", "--classifier", tmp_path / "nothing")
    assert result.exit_code == 1 and "model directory does not exist" in result.output


def test_compare_to_truth_scores_bulk_and_tails():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=200_000)
    same = compare_to_truth("x", truth, rng.normal(size=200_000), edges=np.linspace(-4, 4, 41))
    shifted = compare_to_truth("x", truth, rng.normal(0.2, 1.0, size=200_000), edges=np.linspace(-4, 4, 41))
    assert same["bulk_max_deviation"] < 5 * same["bulk_max_deviation_stat_error"]
    assert 0.5 < same["chi2_ndf"] < 2.0
    assert shifted["chi2_ndf"] > 50 and shifted["tails_max_deviation"] > 0.3
    assert same["bulk_bins"] + same["tails_bins"] == same["bins_scored"]
    # identical shapes: what is left beyond 2 sigma is a fluctuation, far below the bins' resolution
    assert same["bulk_max_excess"] < 2 * same["bulk_median_stat_error"] < 0.05
    # the look-elsewhere reference: a 0.2 sigma shift is far above what chance gives an identical sample
    for region in ("bulk", "tails"):
        assert same[f"{region}_max_excess"] <= same[f"{region}_max_excess_perfect_p95"]
        assert shifted[f"{region}_max_excess"] > 4 * shifted[f"{region}_max_excess_perfect_p95"] > 0
    # a known shape change: x > 0 weighted 1.1, so every ratio is 1.1/(1 + 0.1 f) or 1/(1 + 0.1 f), f = P(x > 0)
    known = compare_to_truth("x", truth, truth, weights=np.where(truth > 0, 1.1, 1.0), edges=np.linspace(-4, 4, 41))
    norm = 1 + 0.1 * np.mean(truth > 0)
    assert known["bulk_max_deviation"] == pytest.approx(max(1.1 / norm - 1, 1 - 1 / norm), rel=1e-9)
    assert 0.02 < known["bulk_max_excess"] < known["bulk_max_deviation"]  # 200k events: bin errors ~1%


def test_perfect_sample_excess_matches_the_analytic_quantile():
    # n bins with equal error sigma: P(max |z| <= c) = (2 Phi(c) - 1)^n, so the 95% quantile of the largest excess
    # sigma (max |z| - 2) is sigma (c - 2) with c = Phi^-1((1 + 0.95^(1/n)) / 2)
    for bins, sigma in ((40, 0.1), (5, 0.02)):
        c = NormalDist().inv_cdf((1 + 0.95 ** (1 / bins)) / 2)
        assert perfect_sample_excess(np.full(bins, sigma)) == pytest.approx(sigma * (c - 2), rel=0.05)
    assert perfect_sample_excess(np.full(1, 0.1)) == 0.0  # one bin: |z| > 2 happens in 4.6% < 5% of trials
    assert perfect_sample_excess(np.full(40, 0.2)) == pytest.approx(2 * perfect_sample_excess(np.full(40, 0.1)))


def _ratio_table(ratio: np.ndarray, ratio_error: np.ndarray, bulk_bins: int) -> dict:
    """A histogram_table with given ratios and expected ratio errors: the first ``bulk_bins`` bins are bulk."""
    n = len(ratio)
    return {
        "edges": np.linspace(0.0, 1.0, n - 1),
        "truth_effective_events": np.full(n, 1000.0),
        "bulk": np.arange(n) < bulk_bins,
        "s": {"ratio": ratio, "ratio_error_expected": ratio_error},
    }


def test_look_elsewhere_sigmas_are_the_bonferroni_quantiles():
    assert look_elsewhere_sigmas(1) == pytest.approx(1.6449, abs=1e-4)  # one bin: the one-sided 95% quantile
    assert look_elsewhere_sigmas(40) == pytest.approx(NormalDist().inv_cdf(1 - 0.05 / 40))
    assert look_elsewhere_sigmas(40) == pytest.approx(3.023, abs=1e-3)
    assert look_elsewhere_sigmas(10) < look_elsewhere_sigmas(40) < look_elsewhere_sigmas(100)


def test_tolerance_verdict_flags_at_most_five_percent_of_samples_at_the_tolerance(monkeypatch):
    monkeypatch.setattr("lhe_didi.validation.metrics.PSEUDO_EXPERIMENTS", 10)  # the p95 reference is not under test
    rng = np.random.default_rng(3)
    bulk, tails, trials = 20, 40, 2000
    sigma = np.concatenate([np.full(bulk, 0.005), np.geomspace(0.01, 0.2, tails)])
    in_bulk = np.arange(bulk + tails) < bulk
    offset = np.where(in_bulk, TOLERANCE["bulk"], TOLERANCE["tails"])
    flagged = {(label, region): 0 for label in ("perfect", "at tolerance") for region in ("bulk", "tails")}
    for _ in range(trials):
        pulls = rng.standard_normal(bulk + tails)
        sign = rng.choice([-1.0, 1.0], bulk + tails)  # deficits and excesses alike
        for label, shift in (("perfect", 0.0), ("at tolerance", 1.0)):
            result = score(_ratio_table(1 + sign * shift * offset + sigma * pulls, sigma, bulk), "s")
            for region in ("bulk", "tails"):
                flagged[label, region] += not result[f"{region}_within_tolerance"]
    # every bin exactly at the tolerance: a region is flagged when some bin's pull passes z on the far side of the
    # tolerance (or, rarely, 2T/sigma + z on the near side); 1 - prod(1 - p_i) is just below 5%
    for region, mask in (("bulk", in_bulk), ("tails", ~in_bulk)):
        z, gap = look_elsewhere_sigmas(int(mask.sum())), 2 * offset[mask] / sigma[mask]
        p = np.array([NormalDist().cdf(-z) + NormalDist().cdf(-z - g) for g in gap])
        expected = 1 - np.prod(1 - p)
        assert 0.045 < expected < 0.05
        assert abs(flagged["at tolerance", region] / trials - expected) < 4 * np.sqrt(
            expected * (1 - expected) / trials
        )
        # a perfect sample needs a pull beyond z + T/sigma on either side: far rarer
        p = np.array([2 * NormalDist().cdf(-z - g / 2) for g in gap])
        expected = 1 - np.prod(1 - p)
        assert expected < 0.005
        assert abs(flagged["perfect", region] / trials - expected) < 4 * np.sqrt(expected * (1 - expected) / trials)
    # the 2-sigma excess a perfect sample shows in one of these 40 tail bins often exceeds 10%: the reason for z_n
    result = score(_ratio_table(1 + sigma * 2.6, sigma, bulk), "s")
    assert result["tails_max_excess"] > TOLERANCE["tails"] and result["tails_within_tolerance"]


def test_tolerance_verdict_flags_a_real_deviation():
    sigma = np.full(30, 0.02)
    ratio = np.ones(30)
    ratio[25] = 1.0 + TOLERANCE["tails"] + 4.0 * 0.02  # 4 sigma beyond the tolerance in one well-measured tail bin
    result = score(_ratio_table(ratio, sigma, bulk_bins=20), "s")
    assert result["bulk_within_tolerance"] and not result["tails_within_tolerance"]
    z = look_elsewhere_sigmas(10)
    assert result["tails_look_elsewhere_sigmas"] == pytest.approx(z)
    assert result["tails_significant_deviation"] == pytest.approx(TOLERANCE["tails"] + (4.0 - z) * 0.02)
    ratio[3] = 0.97  # a 3% bulk deficit at 0.1% precision
    result = score(_ratio_table(ratio, np.where(np.arange(30) < 20, 0.001, 0.02), bulk_bins=20), "s")
    assert not result["bulk_within_tolerance"]
    assert result["bulk_significant_deviation"] == pytest.approx(0.03 - look_elsewhere_sigmas(20) * 0.001)


def test_expected_difference_error_is_the_plain_error_at_agreement_and_symmetric():
    t, t_err = np.array([0.01, 0.02]), np.array([0.001, 0.0015])
    s_err = np.array([0.002, 0.001])
    np.testing.assert_allclose(expected_difference_error(t, t_err, t, s_err), np.hypot(t_err, s_err))
    s = np.array([0.006, 0.03])  # errors of the other histogram per unit content kept: (0.002^2/0.006, 0.001^2/0.03)
    np.testing.assert_allclose(
        expected_difference_error(t, t_err, s, s_err), expected_difference_error(s, s_err, t, t_err)
    )
    # unit weights, N events each: sigma^2 = p/N per histogram, p between the two contents
    n = 10_000
    for t1, s1 in ((0.01, 0.006), (0.02, 0.03)):
        p = np.sqrt((t1**2 + s1**2) / 2)
        got = expected_difference_error(np.array([t1]), np.sqrt([t1 / n]), np.array([s1]), np.sqrt([s1 / n]))
        assert got[0] == pytest.approx(np.sqrt(2 * p / n))
        assert min(t1, s1) < p < max(t1, s1)


def test_pulls_of_a_correctly_weighted_sample_are_calibrated():
    # a generator short of tail events, corrected by noisy weights: distributed exactly as truth, but a tail bin
    # holds fewer, heavier events. Judged against its observed errors a downward fluctuation looks more
    # significant than an equal upward one (beyond -2 sigma about twice as often as beyond +2 sigma); judged
    # against the errors expected if it followed truth, both sides match the Gaussian 2.3%.
    rng = np.random.default_rng(1)
    edges = np.linspace(-4, 4, 41)
    observed, expected = [], []
    for _ in range(100):
        truth = rng.normal(size=200_000)
        x = rng.normal(size=200_000)
        x = x[rng.random(x.size) < np.exp(-(x**2) / 4)]
        weights = np.exp(x**2 / 4) * rng.exponential(size=x.size)
        table = histogram_table(edges, truth, None, {"s": (x, weights)})
        scored = table["truth_effective_events"] >= 100
        r = table["s"]["ratio"][scored] - 1
        observed.append(r / table["s"]["ratio_error"][scored])
        expected.append(r / table["s"]["ratio_error_expected"][scored])
    observed, expected = np.concatenate(observed), np.concatenate(expected)
    assert len(expected) > 3000
    below, above = np.mean(expected < -2), np.mean(expected > 2)
    assert 0.015 < below < 0.035 and 0.015 < above < 0.035 and abs(below - above) < 0.01
    assert np.mean(observed < -2) - np.mean(observed > 2) > 0.015
    assert abs(np.std(expected) - 1) < 0.05


def test_under_and_overflow_are_scored_as_tail_bins():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=200_000)
    sample = rng.normal(size=200_000)
    edges = np.linspace(-2.0, 2.0, 21)
    inside_only = score(histogram_table(edges, truth, None, {"s": (sample[sample < 2.0], None)}), "s")
    # 2.3% of events lie above 2: the missing overflow is the worst tail bin, ratio 0
    assert inside_only["tails_worst_bin"] == [2.0, None]
    assert inside_only["tails_max_deviation"] == pytest.approx(1.0)
    assert inside_only["tails_max_excess"] > 0.9
    full = score(histogram_table(edges, truth, None, {"s": (sample, None)}), "s")
    assert full["bins_scored"] == 22 and full["tails_max_excess"] <= full["tails_max_excess_perfect_p95"]


def test_bins_carried_by_one_heavy_truth_event_are_not_scored():
    # 400 unit-weight truth events per bin, plus one event of weight 1000 in the last bin: the last bin holds
    # 401 events but (1400)^2 / (400 + 1000^2) = 1.96 effective ones, so it is shown but not scored
    edges = np.linspace(0.0, 10.0, 11)
    truth = np.repeat(np.arange(10) + 0.5, 400)
    truth_weights = np.ones(len(truth))
    truth, truth_weights = np.append(truth, 9.5), np.append(truth_weights, 1000.0)
    table = histogram_table(edges, truth, truth_weights, {"same": (truth[:-1], None)})
    effective = inside(table["truth_effective_events"])
    assert inside(table["truth_events"])[-1] == 401
    assert effective[-1] == pytest.approx(1400**2 / (400 + 1000**2))
    np.testing.assert_allclose(effective[:-1], 400)
    assert table["truth_events"][0] == table["truth_events"][-1] == 0  # nothing outside the edges
    result = score(table, "same")
    assert result["bins_scored"] == 9
    # normalised, the heavy event takes 1000/5000 of truth: scored bins have ratio (400/4000)/(400/5000) = 1.25,
    # the unscored last bin (400/4000)/(1400/5000) = 0.36, which would otherwise be the worst
    assert result["bulk_max_deviation"] == pytest.approx(0.25)
    assert result["bulk_worst_bin"] != [9.0, 10.0]
    # unit weights: the effective count is the count
    unit = histogram_table(edges, truth[:-1], None, {})
    np.testing.assert_array_equal(unit["truth_effective_events"], unit["truth_events"])


def test_validate_writes_every_figure_and_valid_metrics(
    tmp_path, example_lo_path, hvq_lo_path, didi_output, quick_classifier
):
    weighted = tmp_path / "weighted.lhe"
    assert run("reweight", didi_output, "-o", weighted, "--classifier", quick_classifier).exit_code == 0
    report = tmp_path / "report"
    result = run(
        "validate",
        "--onshell",
        example_lo_path,
        "--offshell",
        hvq_lo_path,
        "--generated",
        weighted,
        "--weights",
        "--posterior",
        didi_output,
        "--posterior",
        weighted,
        "-o",
        report,
        "--max-events",
        "2000",
        "--auc-events",
        "1000",
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((report / "metrics.json").read_text())
    assert len(metrics["observables"]) == 27
    for name, entry in metrics["observables"].items():
        assert set(entry) == {"onshell", "generated", "reweighted"}
        for suffix in (".png", ".pdf"):
            assert (report / "observables" / f"{name}{suffix}").stat().st_size > 1000
    for name in ("m_t", "m_tbar", "m_Wp", "m_Wm", "m_blp", "m_bbarlm"):
        assert (report / "migration" / f"{name}.png").exists()
    assert (report / "weights" / "weights.png").exists() and (report / "weights" / "tail_clustering.pdf").exists()
    assert metrics["migration_pairs"] == metrics["events"]["generated"]
    made_with = metrics["generated_with"]
    assert made_with["didi_model_hash"] == DidiModel(DEFAULT_MODEL, "cpu").content_hash
    assert made_with["beam_symmetrised"] is False
    assert made_with["classifier"]["content_hash"] == ClassifierModel(quick_classifier, "cpu").content_hash
    assert all(
        0.0 <= metrics["auc"][k] <= 1.0 for k in ("truth_vs_onshell", "truth_vs_generated", "truth_vs_reweighted")
    )
    # a fresh classifier that never beat its constant start scores exactly 0.5, and the report says so
    for key, epoch in metrics["auc_best_epoch"].items():
        assert epoch > 0 or metrics["auc"][key] == 0.5
    assert ("no separation found" in (report / "index.md").read_text()) == (0 in metrics["auc_best_epoch"].values())
    assert metrics["weights"]["clip"] == 15.0 and metrics["weights"]["max"] <= 15.0
    # resonance histories: the records' fractions (hvq truth is all t t~), against truth, in the index
    written = LheReader(weighted).read_all()
    counts = np.bincount(written.history[:2000], minlength=3) / min(len(written), 2000)
    for k, name in enumerate(histories.NAMES):
        entry = metrics["resonance_histories"]["generated"][name]
        assert entry["fraction"] == pytest.approx(counts[k], abs=1e-12)
        assert entry["truth"] == (1.0 if name == "t t~" else 0.0)
    assert "- generated: t t~" in (report / "index.md").read_text()
    assert 0.0 < metrics["weights"]["effective_sample_fraction"] <= 1.0
    index = (report / "index.html").read_text()
    assert "observables/m_t.png" in index and "migration/m_t.png" in index
    assert (report / "index.md").read_text().count("| [") == 27
    # per sample and region, the summary names exactly the observables whose excess beats the look-elsewhere reference
    for key, region in itertools.product(("onshell", "generated", "reweighted"), ("bulk", "tails")):
        flagged = {
            name
            for name, m in metrics["observables"].items()
            if (m[key][f"{region}_max_excess"] or 0) > (m[key][f"{region}_max_excess_perfect_p95"] or 0)
        }
        line = next(
            line
            for line in (report / "index.md").read_text().splitlines()
            if line.startswith(f"- {key} {region}: excess above")
        )
        assert {name for name in metrics["observables"] if f" {name} " in line.replace(":", ": ")} == flagged
        assert line.endswith("none") == (not flagged)
    # the tolerance verdict: metrics.json lists exactly the observables beyond tolerance, the index says so per region
    index_lines = (report / "index.md").read_text().splitlines()
    for key, region in itertools.product(("onshell", "generated", "reweighted"), ("bulk", "tails")):
        beyond = {name for name, m in metrics["observables"].items() if m[key][f"{region}_within_tolerance"] is False}
        assert {b["observable"] for b in metrics["beyond_tolerance"][key][region]} == beyond
        for m in metrics["observables"].values():
            if m[key][f"{region}_significant_deviation"] is not None:
                assert m[key][f"{region}_significant_deviation"] <= m[key][f"{region}_max_excess"]
        line = next(line for line in index_lines if line.startswith(f"- {key} {region}: beyond the"))
        scored = any(m[key][f"{region}_significant_deviation"] is not None for m in metrics["observables"].values())
        assert (": none" in line) == (scored and not beyond) and ("flagged from" in line) == scored
    # the per-bin numbers behind each figure reproduce the scored deviations
    histograms = json.loads((report / "histograms.json").read_text())
    assert set(histograms) == set(metrics["observables"])
    m_t = histograms["m_t"]
    scored = [i for i, n in enumerate(m_t["truth_effective_events"]) if n >= 100]
    # one entry per bin plus the underflow and overflow of the plotted range
    assert (
        len(m_t["truth"]) == len(m_t["edges"]) + 1
        and len(scored) == metrics["observables"]["m_t"]["generated"]["bins_scored"]
    )
    deviations = [abs(m_t["generated"]["ratio"][i] - 1) for i in scored]
    worst = max(metrics["observables"]["m_t"]["generated"][f"{r}_max_deviation"] or 0 for r in ("bulk", "tails"))
    assert max(deviations) == pytest.approx(worst, rel=1e-12)
    # the far tails beyond the plotted range, per sample, from the same bins
    assert set(metrics["far_tails"]) == {"onshell", "generated", "reweighted"}
    assert metrics["far_tails"]["reweighted"] == far_tail_ratios([histograms], "reweighted")
    assert sum(line.startswith("- reweighted: forward b") for line in index_lines) == 1
    result = run(
        "validate",
        "--onshell",
        example_lo_path,
        "--offshell",
        hvq_lo_path,
        "--generated",
        didi_output,
        "--weights",
        "-o",
        tmp_path / "r2",
        "--no-auc",
    )
    assert result.exit_code == 1 and "no 'didi_classifier' named weight" in result.output


def test_validate_report_appears_only_when_complete(tmp_path, monkeypatch, example_lo_path, hvq_lo_path, didi_output):
    args = [
        "validate",
        "--onshell",
        example_lo_path,
        "--offshell",
        hvq_lo_path,
        "--generated",
        didi_output,
        "--max-events",
        "500",
        "--no-auc",
        "-o",
    ]
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    result = run(*args, occupied)
    assert result.exit_code == 1 and "not an lhe-didi report" in result.output
    assert [f.name for f in occupied.iterdir()] == ["notes.txt"]

    report = tmp_path / "report"
    assert run(*args, report).exit_code == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert all((report / f).is_file() for files in metrics["figures"].values() for f in files)  # relative to the report
    before = (report / "metrics.json").read_text()

    from lhe_didi.validation import plots

    def broken(*_, **__):
        raise LheDidiError("figure failed")

    monkeypatch.setattr(plots, "migration_figure", broken)
    result = run(*args, report)
    assert result.exit_code == 1 and "figure failed" in result.output
    assert (report / "metrics.json").read_text() == before  # the earlier report is untouched
    assert run(*args, tmp_path / "new").exit_code == 1 and not (tmp_path / "new").exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["occupied", "report"]  # no temporary directory left


def _far_tail_report(rng, events: int, deficit: float) -> dict:
    """histograms.json-like tables of eta_b, eta_bbar and pt_t for a truth sample and a sample that keeps only a
    fraction 1 - ``deficit`` of the events beyond truth's plotted range (binning() of each observable)."""
    tables = {}
    for name in ("eta_b", "eta_bbar", "pt_t"):
        draw = (lambda n: rng.normal(0.0, 2.0, n)) if name.startswith("eta") else (lambda n: rng.exponential(100.0, n))
        truth, sample = draw(events), draw(events)
        edges = binning(name, truth)
        outside = (sample < edges[0]) | (sample > edges[-1])
        keep = ~outside | (rng.random(events) >= deficit)
        table = histogram_table(edges, truth, None, {"generated": (sample[keep], None)})
        tables[name] = {
            key: (
                {k: np.asarray(v).tolist() for k, v in value.items()}
                if isinstance(value, dict)
                else np.asarray(value).tolist()
            )
            for key, value in table.items()
            if key != "bulk"
        }
    return tables


def test_far_tails_pool_bins_and_reports_as_a_ratio_of_sums():
    rng = np.random.default_rng(7)
    reports = [_far_tail_report(rng, 200_000, 0.0) for _ in range(2)]
    pooled = pooled_ratio(reports, "generated", FORWARD_B_BINS)
    truth = sum(r[name]["truth"][i] for r in reports for name, i in FORWARD_B_BINS)
    sample = sum(r[name]["generated"]["content"][i] for r in reports for name, i in FORWARD_B_BINS)
    assert pooled["ratio"] == pytest.approx(sample / truth, rel=1e-12)
    assert pooled["truth_events"] == sum(r[name]["truth_events"][i] for r in reports for name, i in FORWARD_B_BINS)
    # one report: four bins of ~200 truth events each; two reports halve the variance
    single = pooled_ratio(reports[:1], "generated", FORWARD_B_BINS)
    assert pooled["error"] == pytest.approx(single["error"] / np.sqrt(2), rel=0.1)
    # the error is the one expected at agreement: perfect samples scatter by it (pulls of unit width)
    pulls = [
        (lambda p: (p["ratio"] - 1) / p["error"])(
            pooled_ratio([_far_tail_report(rng, 40_000, 0.0)], "generated", FORWARD_B_BINS)
        )
        for _ in range(300)
    ]
    assert abs(np.mean(pulls)) < 0.25 and 0.85 < np.std(pulls) < 1.15
    # a 20% deficit beyond the plotted range is found in the pooled forward bins and in the pT overflow
    deficit = [_far_tail_report(rng, 200_000, 0.2) for _ in range(2)]
    ratios = far_tail_ratios(deficit, "generated")
    for entry in (ratios["forward_b"], ratios["pt_overflow"]["pt_t"]):
        assert abs(entry["ratio"] - 0.8) < 3 * entry["error"] < 1 - entry["ratio"]
    (line,) = far_tail_lines(far_tails_by_sample(deficit))
    assert line.startswith("generated: forward b") and f"t {ratios['pt_overflow']['pt_t']['ratio']:.3f}" in line


def test_far_tails_command_line(tmp_path, capsys):
    report = tmp_path / "report"
    report.mkdir()
    (report / "histograms.json").write_text(json.dumps(_far_tail_report(np.random.default_rng(1), 20_000, 0.5)))
    assert far_tails_main([str(report), str(report)]) == 0
    out = capsys.readouterr().out
    assert "pooled over 2 report(s)" in out and "generated: forward b" in out
    assert far_tails_main([str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.startswith("Error: ") and far_tails_main([]) == 2
    capsys.readouterr()
    assert far_tails_main(["--help"]) == 0 and capsys.readouterr().out.rstrip().endswith("REPORT_DIR ...]")


def test_weight_summary_is_the_same_for_any_chunking_and_its_quantiles_are_numpys():
    weights = np.random.default_rng(3).lognormal(0.0, 0.08, 200_000)
    whole = WeightSummary()
    whole.add(weights, 15.0)
    whole.finish()
    chunked, later = WeightSummary(), WeightSummary()
    for part in np.array_split(weights[:70_000], 7):
        chunked.add(part, 15.0)
    for part in np.array_split(weights[70_000:], 3):
        later.add(part, 15.0)
    chunked.extend(later)  # a second range of the file
    chunked.finish()
    assert chunked.line() == whole.line()
    assert np.allclose(whole.quantiles, np.quantile(weights, [0.01, 0.5, 0.99]), rtol=2e-4)
    assert whole._counts.shape == WeightSummary()._counts.shape  # memory independent of the number of events
