"""Top mass as a condition: coordinates centred on it, the network input, the header read, the refusals, and a
tiny mass-conditional DiDi + classifier trained and used from the command line."""

import gzip
import json
import re

import numpy as np
import pylhe
import pytest
import torch
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.conditions import MassCondition, top_width
from lhe_didi.errors import LheDidiError
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics import decay_chain
from lhe_didi.models.velocity import VelocityField
from lhe_didi.reference.parameters import lo_top_width
from lhe_didi.transform import DidiModel

TINY = ("--epochs", "2", "--width", "16", "--depth", "1", "--embedding", "8", "--device", "cpu")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def at_mass(example_text: str, path, mass: float | None, events: int | None = None):
    """The example hvq file with its powheg.input stating ``mass`` (and the rule's width), or no mass and width at
    all (None); only the first ``events`` events with ``events``."""
    text = example_text
    if mass is None:
        text = re.sub(r"^(qmass|tdec/twidth)\s.*\n", "", text, flags=re.M)
    else:
        text = re.sub(r"^qmass\s.*$", f"qmass {mass}", text, flags=re.M)
        text = re.sub(r"^tdec/twidth\s.*$", f"tdec/twidth {top_width(mass):.5f}", text, flags=re.M)
    if events is not None:
        head, *blocks = text.split("<event>")
        text = head + "<event>".join([""] + blocks[:events]).rstrip()
        text = text[: text.rindex("</event>") + len("</event>")] + "\n</LesHouchesEvents>\n"
    path.write_text(text)
    return path


def test_width_rule_is_the_hvq_samples_and_scales_with_the_lo_width():
    assert top_width(172.5) == pytest.approx(1.453, rel=1e-12)
    assert top_width(169.5) == pytest.approx(1.3657, abs=1e-4) and top_width(175.5) == pytest.approx(1.5433, abs=1e-4)
    assert top_width(174.0) / top_width(171.0) == pytest.approx(lo_top_width(174.0) / lo_top_width(171.0), rel=1e-12)
    np.testing.assert_allclose(
        top_width(np.array([169.5, 175.5, 169.5])), [top_width(169.5), top_width(175.5), top_width(169.5)]
    )


def test_coordinates_centre_each_event_on_its_own_pole():
    """At the pole the flattened top mass is 0 and at pole + Gamma/2 it is asinh(1), whatever the mass, up to the
    threshold term log(1 - exp(low)) (low = asinh((m_W + m_b - pole) / (Gamma/2)), about -0.004); the per-event map
    inverts exactly."""
    rng = np.random.default_rng(1)
    poles = np.array([169.5, 175.5, 172.5, 171.0])
    features = rng.normal(size=(4, 15))
    columns = [decay_chain.FEATURES.index(f"m_t_{s}") for s in ("top", "tbar")]
    w_columns = [decay_chain.FEATURES.index(f"m_W_{s}") for s in ("top", "tbar")]
    features[:, w_columns] = 80.4
    features[:, decay_chain.FEATURES.index("pt_t")] = 50.0
    features[:, columns[0]] = poles
    features[:, columns[1]] = poles + top_width(poles) / 2
    top = (poles, top_width(poles))
    shaped = decay_chain.shape(features, "helicity", "half-width", top)
    low = np.arcsinh((80.4 + 4.75 - poles) / (top_width(poles) / 2))
    np.testing.assert_allclose(shaped[:, columns[0]], np.log(-np.expm1(low)), rtol=1e-9)
    np.testing.assert_allclose(
        shaped[:, columns[1]], np.arcsinh(1.0) + np.log1p(-np.exp(low - np.arcsinh(1.0))), rtol=1e-9
    )
    assert np.all(np.abs(np.log(-np.expm1(low))) < 0.005)
    np.testing.assert_allclose(
        decay_chain.unshape(shaped, "helicity", "half-width", top)[:, columns], features[:, columns], rtol=1e-12
    )
    # the fixed 172.5-GeV map puts the 175.5 pole 4 half-widths up
    fixed = decay_chain.shape(features, "helicity", "half-width")
    assert fixed[1, columns[0]] == pytest.approx(np.arcsinh(3.0 / (1.453 / 2)), abs=0.005)


def test_the_condition_reaches_the_velocity_field():
    torch.manual_seed(0)
    field = VelocityField(dim=15, width=16, depth=2, embedding=8, conditions=1)
    for parameter in field.net[-1].parameters():  # the last layer starts at zero: give it weights
        torch.nn.init.normal_(parameter)
    x, t = torch.randn(5, 15), torch.full((5,), 0.5)
    low, high = field(x, t, torch.full((5, 1), -1.0)), field(x, t, torch.full((5, 1), 1.0))
    assert torch.all(torch.abs(low - high).sum(dim=1) > 1e-3)
    with pytest.raises(ValueError, match="1 condition"):
        field(x, t)
    assert "conditions" not in VelocityField(dim=15).config  # unconditional configs (and hashes) unchanged


def test_mass_condition_refuses_masses_outside_its_range_and_widths_off_the_rule():
    condition = MassCondition((169.5, 172.5, 175.5))
    assert condition.range == (169.5, 175.5)
    assert condition.check(171.0, top_width(171.0), "test") == []
    with pytest.raises(LheDidiError, match="180 GeV .* outside the model's trained range 169.5-175.5 GeV"):
        condition.check(180.0, None, "test")
    with pytest.raises(LheDidiError, match="top width 1.453 GeV"):
        condition.check(175.5, 1.453, "test")
    assert "transformed anyway" in condition.check(175.5, 1.453, "test", allow_width=True)[0]
    assert MassCondition.from_dict(condition.to_dict()) == condition and MassCondition.from_dict(None) is None


@pytest.fixture(scope="module")
def tiny_conditional(tmp_path_factory, example_text):
    """A tiny mass-conditional DiDi model trained on the example relabelled to 170.5 and 174.5 GeV."""
    folder = tmp_path_factory.mktemp("conditional")
    files = [at_mass(example_text, folder / f"at{m}.lhe", m) for m in (170.5, 174.5)]
    model = folder / "model"
    result = run("train", "didi", files[0], files[0], files[1], files[1], "--condition-on-mass", "-o", model, *TINY)
    assert result.exit_code == 0, result.output
    return model


def test_tiny_conditional_model_records_its_masses_and_reads_the_header(
    tmp_path, tiny_conditional, example_lo_path, example_text
):
    config = json.loads((tiny_conditional / "config.json").read_text())
    assert config["conditions"]["trained_masses"] == [170.5, 174.5] and config["architecture"]["conditions"] == 1
    assert "Trained at 170.5, 174.5 GeV" in (tiny_conditional / "MODEL_CARD.md").read_text()
    out = tmp_path / "out.lhe"
    result = run("transform", example_lo_path, "-o", out, "--model", tiny_conditional, "--device", "cpu")
    assert result.exit_code == 0, result.output
    header = LheReader(out).header
    assert header.didi_top_mass == 172.5  # qmass of the input's powheg.input
    block = [b for b in header.lhe_didi_provenance if b.get("command") == "transform"][-1]
    assert block["condition"] == {"top_mass": 172.5, "top_width": pytest.approx(1.453)}
    assert block["input_check"]["line_shape_training"]["pole_GeV"] == 172.5  # interpolated between 170.5 and 174.5
    given = run(
        "transform",
        example_lo_path,
        "-o",
        tmp_path / "o173.lhe",
        "--model",
        tiny_conditional,
        "--top-mass",
        "173",
        "--device",
        "cpu",
    )
    assert given.exit_code == 0, given.output
    assert LheReader(tmp_path / "o173.lhe").header.didi_top_mass == 173.0


def test_conditional_model_output_changes_with_the_mass(tiny_conditional, example_lo_path):
    from lhe_didi.kinematics.recoil import to_zero_pt_frame

    model = DidiModel(tiny_conditional, "cpu")
    momenta = LheReader(example_lo_path).read_all().momenta[:200]
    features = model.representation.encode(to_zero_pt_frame(momenta)).features
    outputs = {}
    for mass in (170.5, 174.5):
        model.top_mass = mass
        outputs[mass] = model.flow(features)
    others = [i for i, name in enumerate(model.representation.features) if not name.startswith("m_t_")]
    # columns whose coordinates do not depend on the pole change only through the network's condition input
    difference = np.abs(outputs[174.5][:, others] - outputs[170.5][:, others])
    assert np.median(difference) > 1e-6 and np.all(np.isfinite(difference))


def test_conditional_model_refuses_masses_outside_its_range_and_files_without_a_mass(
    tmp_path, tiny_conditional, example_text
):
    far = at_mass(example_text, tmp_path / "at180.lhe", 180.0, events=50)
    refused = run("transform", far, "-o", tmp_path / "o.lhe", "--model", tiny_conditional)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert (
        "Error: top mass 180 GeV (powheg.input in the header) is outside the model's trained range 170.5-174.5 GeV"
        in refused.output
    )
    assert len(refused.output.strip().splitlines()) <= 2 and not (tmp_path / "o.lhe").exists()
    bare = at_mass(example_text, tmp_path / "bare.lhe", None, events=50)
    refused = run("transform", bare, "-o", tmp_path / "o.lhe", "--model", tiny_conditional)
    assert refused.exit_code == 1 and "states no top mass (qmass); give it with --top-mass" in refused.output
    given = run(
        "transform", bare, "-o", tmp_path / "o.lhe", "--model", tiny_conditional, "--top-mass", "171", "--device", "cpu"
    )
    assert given.exit_code == 0, given.output and LheReader(tmp_path / "o.lhe").header.didi_top_mass == 171.0
    wrong_width = run(
        "transform",
        bare,
        "-o",
        tmp_path / "w.lhe",
        "--model",
        tiny_conditional,
        "--top-mass",
        "171",
        "--top-width",
        "1.453",
    )
    assert wrong_width.exit_code == 1 and "top width 1.453 GeV" in wrong_width.output


def test_single_mass_models_keep_their_mass_and_guard_it(tmp_path, example_text, example_lo_path):
    model = tmp_path / "single"
    assert run("train", example_lo_path, example_lo_path, "-o", model, *TINY).exit_code == 0
    config = json.loads((model / "config.json").read_text())
    assert "conditions" not in config and config["physics"]["top_mass"] == 172.5
    other = at_mass(example_text, tmp_path / "at175.lhe", 175.5, events=50)
    refused = run("transform", other, "-o", tmp_path / "o.lhe", "--model", model)
    assert refused.exit_code == 1 and "m_t = 175.5 GeV (model: 172.5)" in refused.output
    # --top-mass states the mass of a file that has none; the single-mass guard checks it like a header's
    bare = at_mass(example_text, tmp_path / "bare.lhe", None, events=50)
    refused = run("transform", bare, "-o", tmp_path / "o.lhe", "--model", model, "--top-mass", "175.5")
    assert refused.exit_code == 1 and "m_t = 175.5 GeV (model: 172.5)" in refused.output


def test_conditional_training_needs_two_masses_and_both_sides(tmp_path, example_text, example_lo_path):
    one = at_mass(example_text, tmp_path / "a.lhe", 171.0, events=100)
    result = run("train", "didi", one, one, "--condition-on-mass", "-o", tmp_path / "m", *TINY)
    assert result.exit_code == 1 and "two or more top masses" in result.output
    other = at_mass(example_text, tmp_path / "b.lhe", 174.0, events=100)
    result = run("train", "didi", one, one, other, one, "--condition-on-mass", "-o", tmp_path / "m", *TINY)
    assert result.exit_code == 1 and "every mass needs both" in result.output
    result = run("train", "didi", one, one, other, other, "-o", tmp_path / "m", *TINY)
    assert result.exit_code == 1 and "--condition-on-mass" in result.output
    assert run("train", "didi", one, one, other, "-o", tmp_path / "m").exit_code == 2  # not in pairs
    assert not (tmp_path / "m").exists()


def test_tiny_conditional_classifier_trains_and_reweights_at_the_transform_mass(
    tmp_path, tiny_conditional, example_text
):
    truth, generated = [], []
    for mass in (170.5, 174.5):
        truth.append(at_mass(example_text, tmp_path / f"truth{mass}.lhe", mass))
        generated.append(tmp_path / f"didi{mass}.lhe")
        result = run("transform", truth[-1], "-o", generated[-1], "--model", tiny_conditional, "--device", "cpu")
        assert result.exit_code == 0, result.output
    classifier = tmp_path / "clf"
    result = run(
        "train",
        "classifier",
        truth[0],
        generated[0],
        truth[1],
        generated[1],
        "--condition-on-mass",
        "-o",
        classifier,
        "--epochs",
        "2",
        "--width",
        "8",
        "--depth",
        "1",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    config = json.loads((classifier / "config.json").read_text())
    assert config["conditions"]["trained_masses"] == [170.5, 174.5] and config["architecture"]["conditions"] == 1
    weighted = tmp_path / "weighted.lhe"
    result = run("reweight", generated[1], "-o", weighted, "--classifier", classifier, "--device", "cpu")
    assert result.exit_code == 0, result.output
    weights = LheReader(weighted).read_all().named_weights["didi_classifier"]
    assert np.all(np.isfinite(weights)) and np.all(weights > 0)
    # a mass-conditional classifier has no mass to use for plain (unconditional) DiDi output
    single = tmp_path / "single"
    assert run("train", truth[0], truth[0], "-o", single, *TINY).exit_code == 0
    plain = tmp_path / "plain.lhe"
    assert (
        run(
            "transform",
            truth[0],
            "-o",
            plain,
            "--model",
            single,
            "--top-mass",
            "172.5",
            "--allow-parameter-mismatch",
            "--no-classifier",
            "--device",
            "cpu",
        ).exit_code
        == 0
    )
    refused = run("reweight", plain, "-o", tmp_path / "r.lhe", "--classifier", classifier)
    assert refused.exit_code == 1 and "no top mass of a mass-conditional DiDi model" in refused.output


def test_gzip_example_is_what_the_relabelling_edits(example_lo_path):
    text = gzip.open(example_lo_path, "rt").read()
    assert re.search(r"^qmass\s+172.5", text, re.M) and re.search(r"^tdec/twidth\s+1.453", text, re.M)


def test_flow_matching_pairs_are_drawn_within_each_mass():
    from lhe_didi.training.didi import ConditionalPartners

    generator = torch.Generator().manual_seed(3)
    onshell_groups = torch.tensor([2, 0, 1, 2, 2, 0, 1, 1, 0, 2])
    partners = ConditionalPartners(onshell_groups, 3)
    offshell_groups = torch.randint(3, (5000,), generator=generator)
    drawn = partners.draw(offshell_groups, generator)
    assert torch.equal(onshell_groups[drawn], offshell_groups)
    # uniform within a group: each of group 2's four on-shell events gets about a quarter of its partners
    counts = torch.bincount(drawn[offshell_groups == 2], minlength=10)[onshell_groups == 2].double()
    assert torch.all(torch.abs(counts / counts.sum() - 0.25) < 0.04)
    with pytest.raises(LheDidiError, match="every trained mass"):
        ConditionalPartners(torch.tensor([0, 0, 2]), 3)


def test_shipped_default_is_mass_conditional_over_the_production_masses(tmp_path, example_text):
    from lhe_didi.reweight import DEFAULT_CLASSIFIER, ClassifierModel
    from lhe_didi.transform import DEFAULT_MODEL

    model, classifier = DidiModel(DEFAULT_MODEL, "cpu"), ClassifierModel(DEFAULT_CLASSIFIER, "cpu")
    low, high = model.condition.range
    assert low <= 169.5 and high >= 175.5 and classifier.condition.range == model.condition.range
    assert 171.0 not in model.condition.trained_masses and 174.0 not in model.condition.trained_masses  # held out
    far = at_mass(example_text, tmp_path / "at180.lhe", 180.0, events=20)
    refused = run("transform", far, "-o", tmp_path / "o.lhe")
    assert refused.exit_code == 1 and "top mass 180 GeV" in refused.output and "outside" in refused.output
    assert not (tmp_path / "o.lhe").exists()


def test_shipped_pair_transforms_the_real_hvq_slice_at_its_header_mass(tmp_path, hvq_nnpdf_slice_path):
    """300 real hvq events (NNPDF3.1, fixed scale, qmass 172.5 in the header) through the shipped default pair."""
    out = tmp_path / "out.lhe"
    result = run("transform", hvq_nnpdf_slice_path, "-o", out, "--device", "cpu", "--threads", "1")
    assert result.exit_code == 0, result.output
    reader = LheReader(out)
    block = [b for b in reader.header.lhe_didi_provenance if b.get("command") == "transform"][-1]
    assert block["condition"] == {"top_mass": 172.5, "top_width": pytest.approx(top_width(172.5))}
    assert block["input_check"]["input_parameters"]["top_mass"] == 172.5
    batch = reader.read_all()
    assert 295 <= len(batch) <= 300  # at most a few unphysical outputs dropped
    weights = batch.named_weights["didi_classifier"]
    assert np.all(weights > 0) and 0.8 < weights.mean() < 1.25  # the classifier corrects, it does not replace
    # every event's first comment is its input event's POWHEG '#rwgt' line, then the source-event line
    inputs = [e.optional for e in pylhe.LHEFile.fromfile(hvq_nnpdf_slice_path).events]
    for event in pylhe.LHEFile.fromfile(out).events:
        rwgt, source = event.optional[:2]
        assert source.startswith("#lhe-didi source-event") and rwgt == inputs[int(source.split()[-1])][0]
