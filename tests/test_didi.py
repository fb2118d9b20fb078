"""Direct Diffusion: identity at initialisation, training reduces the loss, model I/O, transform."""

import json
from dataclasses import asdict

import numpy as np
import pylhe
import pytest
import torch
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.errors import LheDidiError
from lhe_didi.io.checks import check_event
from lhe_didi.io.reader import LheReader
from lhe_didi.io.writer import LheWriter
from lhe_didi.kinematics import event_map
from lhe_didi.models.store import load_model_dir, save_model_dir
from lhe_didi.models.velocity import VelocityField
from lhe_didi.runtime import native_bfloat16
from lhe_didi.training.data import load_features, unit_weight_copies
from lhe_didi.training.didi import DidiSettings, cfm_loss, train_didi
from lhe_didi.transform import DEFAULT_MODEL, DidiModel, TransformSettings, transform_file

# the paper's particle coordinates here; the decay-chain-beams default is trained by its own test and the CLI test
TINY = dict(
    width=32,
    depth=2,
    embedding=8,
    batch_size=128,
    epochs=8,
    lr=1e-3,
    max_lr=1e-2,
    seed=1,
    device="cpu",
    representation="particles",
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, example_lo_path, hvq_nlo_path):
    """A small model trained for a few epochs: real hvq LO events -> NLO decay products (distinct samples)."""
    out = tmp_path_factory.mktemp("models") / "tiny"
    result = train_didi(example_lo_path, hvq_nlo_path, out, DidiSettings(**TINY), progress=False)
    return out, result


def test_zero_initialised_field_is_the_identity_map(tmp_path, tiny_model):
    network = VelocityField(width=16, depth=2, embedding=8)
    x = torch.randn(100, 17)
    assert torch.count_nonzero(network(x, torch.rand(100))) == 0
    # a model directory holding the untrained network maps every event onto itself
    _, config = load_model_dir(tiny_model[0], "didi")
    config = {
        k: v for k, v in config.items() if k not in ("content_hash", "format", "format_version", "package_version")
    }
    config["architecture"] = network.config
    save_model_dir(tmp_path / "identity", network.state_dict(), config, "identity")
    model = DidiModel(tmp_path / "identity", "cpu")
    batch = LheReader(config["data"]["onshell"]["path"]).read_all()
    features = event_map.encode(batch.momenta).features
    np.testing.assert_allclose(model.flow(features), features, rtol=1e-5, atol=1e-5)


def test_training_reduces_the_loss(tiny_model):
    history = tiny_model[1]["history"]
    assert [h["epoch"] for h in history] == list(range(TINY["epochs"] + 1))
    # epoch 0 is the zero field: its loss is the mean squared displacement (about 2 per dimension)
    assert 1.5 < history[0]["validation_loss"] < 3.0
    assert history[-1]["validation_loss"] < 0.92 * history[0]["validation_loss"]
    assert history[-1]["train_loss"] < history[1]["train_loss"]


def test_cfm_loss_of_zero_field_is_mean_squared_displacement():
    network = VelocityField(width=8, depth=1, embedding=4)
    x0, x1 = torch.randn(4000, 17), torch.randn(4000, 17) + 1.0
    expected = torch.mean((x1 - x0) ** 2)
    assert cfm_loss(network, x0, x1).item() == pytest.approx(expected.item(), rel=1e-6)


def test_unit_weight_copies_are_exact_in_expectation():
    weights = np.array([1.0, 1.0, 2.5, -1.0, 0.4])  # unit = 0.4
    copies = np.stack([unit_weight_copies(weights, np.random.default_rng(k)) for k in range(4000)])
    assert np.all(copies[:, 3] == 0) and np.all(copies[:, 4] == 1)
    np.testing.assert_allclose(copies.mean(axis=0), [2.5, 2.5, 6.25, 0.0, 1.0], atol=0.05)
    assert np.all(unit_weight_copies(np.full(5, 3.0), np.random.default_rng(0)) == 1)


def test_widely_weighted_sample_is_refused_for_didi_training(tmp_path, example_lo_path):
    """A tail-biased (weights ~ 1/b) file would be repeated into many times its size: a clear error instead."""
    reader = LheReader(example_lo_path)
    events = reader.read_all()
    events.weight[:] = 1.0 / np.linspace(1.0, 30.0, len(events))
    path = tmp_path / "biased.lhe"
    with LheWriter(path, reader.header, {"command": "test"}) as writer:
        writer.write(events)
    with pytest.raises(LheDidiError, match="weights spread by a factor 30"):
        load_features(path)
    features, provenance = load_features(example_lo_path)  # unit weights pass unchanged
    assert len(features) == provenance["events_used"] == provenance["events_after_unit_weighting"]


def test_save_load_round_trip_and_hash_check(tmp_path, tiny_model):
    directory = tiny_model[0]
    tensors, config = load_model_dir(directory, "didi")
    assert config["content_hash"] == tiny_model[1]["content_hash"]
    assert config["data"]["onshell"]["events_used"] == 1000 and len(config["data"]["offshell"]["sha256"]) == 64
    # the NLO slice has 4 negative-weight events (test_reader counts them with pylhe): dropped and counted
    assert config["data"]["offshell"]["negative_weight_events_dropped"] == 4
    assert config["data"]["offshell"]["events_after_unit_weighting"] == 2000 - 4
    network = VelocityField(**config["architecture"])
    network.load_state_dict(tensors)  # exact architecture match
    copy = tmp_path / "copy"
    copy.mkdir()
    for item in directory.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    edited = json.loads((copy / "config.json").read_text())
    edited["training"]["epochs"] = 999
    (copy / "config.json").write_text(json.dumps(edited))
    with pytest.raises(LheDidiError, match="content hash mismatch"):
        load_model_dir(copy, "didi")
    (copy / "config.json").write_text((directory / "config.json").read_text())
    weights = bytearray((copy / "weights.safetensors").read_bytes())
    weights[-3] ^= 0xFF
    (copy / "weights.safetensors").write_bytes(bytes(weights))
    with pytest.raises(LheDidiError, match="content hash mismatch"):
        load_model_dir(copy, "didi")
    with pytest.raises(LheDidiError, match="expected classifier"):
        load_model_dir(directory, "classifier")


def test_transform_nlo_keeps_extras_order_and_invariants(tmp_path, tiny_model, hvq_nlo_path, nlo_batch):
    out = tmp_path / "off.lhe.gz"
    report = transform_file(hvq_nlo_path, out, TransformSettings(model_dir=tiny_model[0], device="cpu", batch_size=700))
    assert report.events_in == len(nlo_batch) == 2000
    assert report.events_out + len(report.unphysical) == 2000
    back = LheReader(out).read_all()
    assert len(back) == report.events_out
    kept = np.setdiff1d(np.arange(2000), report.unphysical)
    # order kept, extra partons untouched, flavours unchanged
    np.testing.assert_array_equal(back.pdg, nlo_batch.pdg[kept])
    np.testing.assert_allclose(back.extra_momentum, nlo_batch.extra_momentum[kept], rtol=1e-9, atol=1e-7)
    problems = [p for e in pylhe.LHEFile.fromfile(out).events for p in check_event(e.particles)]
    assert problems == []
    # the network moved the decay products
    assert np.abs(back.momenta - nlo_batch.momenta[kept]).max() > 1.0
    text = out.read_bytes()
    import gzip

    tail = gzip.decompress(text)[-600:].decode()
    assert f"{report.events_out} written" in tail


@pytest.mark.parametrize(
    "representation, scale",
    [("decay-chain", "width"), ("decay-chain-beams", "width"), ("decay-chain-beams", "half-width")],
)
def test_decay_chain_model_trains_and_transforms(
    tmp_path, example_lo_path, hvq_nlo_path, nlo_batch, representation, scale
):
    settings = DidiSettings(**{**TINY, "epochs": 8, "representation": representation, "breit_wigner_scale": scale})
    result = train_didi(example_lo_path, hvq_nlo_path, tmp_path / "chain", settings, progress=False)
    assert result["history"][-1]["validation_loss"] < result["history"][0]["validation_loss"]
    model = DidiModel(tmp_path / "chain", "cpu")
    assert model.representation.name == representation and model.network.config["dim"] == 15
    assert model.representation.breit_wigner_scale == scale
    out = tmp_path / "off.lhe"
    report = transform_file(
        hvq_nlo_path, out, TransformSettings(model_dir=tmp_path / "chain", device="cpu", batch_size=700)
    )
    assert report.events_out + len(report.unphysical) == 2000 and report.events_out > 1800  # 8 epochs on 1k + 2k events
    back = LheReader(out).read_all()
    kept = np.setdiff1d(np.arange(2000), report.unphysical)
    np.testing.assert_array_equal(back.pdg, nlo_batch.pdg[kept])
    np.testing.assert_allclose(back.extra_momentum, nlo_batch.extra_momentum[kept], rtol=1e-9, atol=1e-7)
    assert [p for e in pylhe.LHEFile.fromfile(out).events for p in check_event(e.particles)] == []
    assert np.abs(back.momenta - nlo_batch.momenta[kept]).max() > 1.0


def test_default_settings_are_the_shipped_recipe():
    """`lhe-didi train didi ON OFF [ON OFF ...] --condition-on-mass --max-events 200000 -o DIR` with no other option
    is the recipe of the shipped model (its config; models/README.md)."""
    shipped = json.loads((DEFAULT_MODEL / "config.json").read_text())
    # where it ran, and how many events of each file (a choice of data, in the recipe's command line)
    recipe = {name: value for name, value in asdict(DidiSettings()).items() if name not in ("device", "max_events")}
    assert recipe == {name: shipped["training"][name] for name in recipe}
    assert shipped["training"]["max_events"] == 200_000 and "conditions" in shipped
    assert shipped["preprocessing"]["breit_wigner_scale"] == DidiSettings().breit_wigner_scale == "half-width"
    # the scale follows the representation unless asked for: the particle coordinates have no masses to flatten
    assert DidiSettings(representation="particles").breit_wigner_scale == "width"
    assert DidiSettings(representation="decay-chain").breit_wigner_scale == "half-width"
    assert DidiSettings(representation="decay-chain", breit_wigner_scale="width").breit_wigner_scale == "width"


def test_solving_in_sub_batches_matches_one_solve(tiny_model, example_lo_path):
    model = DidiModel(tiny_model[0], "cpu")
    features = event_map.encode(LheReader(example_lo_path).read_all().momenta).features
    model.solve_batch = None
    whole = model.flow(features)
    assert model.solves == 1
    model.solve_batch = 128
    parts = model.flow(features)
    assert model.solves == 1 + 8  # 1000 events in solves of 128
    # each sub-batch takes its own adaptive steps; the solutions agree to the solver tolerance
    scale = np.std(features, axis=0)
    assert np.median(np.abs(parts - whole) / scale) < 1e-4 and np.max(np.abs(parts - whole) / scale) < 1e-2


def test_same_seed_same_output(tmp_path, tiny_model, example_lo_path):
    for name in ("a", "b"):
        transform_file(
            example_lo_path, tmp_path / f"{name}.lhe", TransformSettings(model_dir=tiny_model[0], device="cpu", seed=7)
        )
    assert (tmp_path / "a.lhe").read_bytes() == (tmp_path / "b.lhe").read_bytes()


def test_threads_option_is_recorded_and_keeps_the_events(tmp_path, tiny_model, example_lo_path):
    """--threads sets torch's CPU threads (recorded with the solver in the header); the events agree with the
    default thread count up to the float32 rounding of the network."""
    default_threads = torch.get_num_threads()
    try:
        result = CliRunner().invoke(
            main,
            [
                "transform",
                str(example_lo_path),
                "-o",
                str(tmp_path / "one.lhe"),
                "--model",
                str(tiny_model[0]),
                "--threads",
                "1",
                "--device",
                "cpu",
            ],
        )
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(default_threads)
    transform_file(example_lo_path, tmp_path / "default.lhe", TransformSettings(model_dir=tiny_model[0], device="cpu"))
    blocks = [LheReader(tmp_path / name).header.lhe_didi_provenance[-1] for name in ("one.lhe", "default.lhe")]
    assert blocks[0]["solver"]["cpu_threads"] == 1 and blocks[1]["solver"]["cpu_threads"] == default_threads
    one, default = (LheReader(tmp_path / name).read_all() for name in ("one.lhe", "default.lhe"))
    np.testing.assert_array_equal(one.source_index, default.source_index)
    assert np.max(np.abs(one.momenta - default.momenta) / default.momenta[..., :1]) < 1e-3


def test_resume_continues_from_checkpoint(tmp_path, example_lo_path, hvq_nlo_path):
    settings = DidiSettings(**{**TINY, "epochs": 2})
    out = tmp_path / "m"
    first = train_didi(example_lo_path, hvq_nlo_path, out, settings, progress=False)
    # a checkpoint from an interrupted 2-epoch run is continued to 3 epochs
    checkpoint = out.with_name("m.checkpoint")
    assert not checkpoint.exists()  # removed after a successful run
    with pytest.raises(LheDidiError, match="no checkpoint"):
        train_didi(example_lo_path, hvq_nlo_path, out, settings, resume=True, progress=False)
    assert len(first["history"]) == 3


def test_training_with_ot_coupling(tmp_path, example_lo_path, hvq_nlo_path):
    runs = {}
    for coupling in ("independent", "ot"):
        settings = DidiSettings(**{**TINY, "epochs": 8, "coupling": coupling, "ot_block": 64})
        runs[coupling] = train_didi(example_lo_path, hvq_nlo_path, tmp_path / coupling, settings, progress=False)[
            "history"
        ]
    # the zero field's loss is the mean squared pair distance: OT pairs are much closer
    assert runs["ot"][0]["validation_loss"] < 0.6 * runs["independent"][0]["validation_loss"]
    # and stay closer after training: the field fitted on OT pairs has the lower loss
    assert runs["ot"][-1]["validation_loss"] < 0.6 * runs["independent"][-1]["validation_loss"]
    assert np.isfinite(runs["ot"][-1]["train_loss"])


def test_bayesian_network_kl_and_posterior_samples():
    network = VelocityField(width=16, depth=2, embedding=8, bayesian=True)
    for layer in network.bayesian_layers():
        torch.nn.init.normal_(layer.mean.weight, std=0.1)
    assert network.kl().item() > 0
    x, t = torch.randn(10, 17), torch.rand(10)
    network.eval()
    at_means = network(x, t)
    assert torch.equal(at_means, network(x, t))  # deterministic at the weight means
    network.sample_weights(True)
    assert not torch.equal(network(x, t), network(x, t))  # fresh posterior draw per pass
    network.sample_weights(False)
    network.freeze_posterior_draw(3)
    first = network(x, t)
    assert torch.equal(first, network(x, t))  # one frozen draw for a whole ODE solve
    network.freeze_posterior_draw(3)
    assert torch.equal(first, network(x, t))  # reproducible from its seed
    network.freeze_posterior_draw(4)
    assert not torch.equal(first, network(x, t))
    network.freeze_posterior_draw(None)
    assert torch.equal(network(x, t), at_means)


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda d: None, "model directory does not exist"),
        (lambda d: d.mkdir(), "not a model directory"),
    ],
)
def test_bad_model_directory_is_a_clear_cli_error(tmp_path, example_lo_path, make_bad, message):
    bad = tmp_path / "model"
    make_bad(bad)
    result = CliRunner().invoke(
        main, ["transform", str(example_lo_path), "-o", str(tmp_path / "o.lhe"), "--model", str(bad)]
    )
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.lhe").exists()


def test_shipped_default_model_transforms_the_bundled_example(tmp_path, example_lo_path):
    """The README's main job: the shipped model on the bundled real hvq events."""
    from lhe_didi.transform import DEFAULT_MODEL

    model = DidiModel(DEFAULT_MODEL, "cpu")  # verifies the content hash
    assert sum(info["events_used"] for info in model.config["data"]["onshell"]) >= 1_000_000
    out = tmp_path / "offshell.lhe"
    report = transform_file(example_lo_path, out, TransformSettings(device="cpu"))
    assert report.events_in == 1000 and report.events_out + len(report.unphysical) == 1000
    assert len(report.unphysical) < 20
    problems = [p for e in pylhe.LHEFile.fromfile(out).events for p in check_event(e.particles)]
    assert problems == []
    header = LheReader(out).header.preamble
    assert model.content_hash in header and '"method": "rk4"' in header and '"steps": 8' in header
    assert LheReader(out).header.didi_mirror_seed == 0  # beam-symmetrised by default
    assert LheReader(out).header.didi_top_mass == 172.5  # the condition, from the example's qmass
    # the shipped classifier belongs to the shipped DiDi model, so its weight is attached by default
    assert report.weights is not None and report.weights.count == report.events_out
    weights = LheReader(out).read_all().named_weights["didi_classifier"]
    assert len(weights) == report.events_out and weights.min() > 0 and weights.max() <= 15.0


def test_prepared_data_round_trip_quantised(tmp_path, example_lo_path, hvq_nlo_path):
    """Prepared pairs save without pickle; int16 quantisation keeps every coordinate within half a step."""
    from lhe_didi.training.didi import DidiTrainingData, prepare_didi_data

    settings = DidiSettings(**{**TINY, "representation": "decay-chain-beams"})
    data = prepare_didi_data(example_lo_path, hvq_nlo_path, settings, progress=False)
    data.save(tmp_path / "exact")
    exact = DidiTrainingData.load(tmp_path / "exact")
    np.testing.assert_array_equal(exact.onshell, data.onshell)
    data.save(tmp_path / "quantised", quantise=True)
    quantised = DidiTrainingData.load(tmp_path / "quantised")
    quantum = json.loads((tmp_path / "quantised.json").read_text())["quantum"]
    assert 0 < quantum <= 2.0**-10
    assert np.max(np.abs(quantised.offshell - data.offshell)) <= 0.5 * quantum * (1 + 1e-6)
    assert quantised.preprocessor.to_dict() == data.preprocessor.to_dict() and quantised.data == data.data


def test_training_records_the_physics_of_its_onshell_file(tiny_model, example_lo_path):
    """The model states the on-shell file's parameters (hvq header) and its top line shape, which the transform
    guard compares with its input."""
    config = load_model_dir(tiny_model[0], "didi")[1]
    physics = config["physics"]
    assert (physics["top_mass"], physics["top_width"], physics["w_mass"], physics["b_mass"]) == (
        172.5,
        1.453,
        80.419,
        4.75,
    )
    shape = physics["onshell_line_shape"]
    assert shape["top_candidates"] == 2000 and 0 < shape["below"] < 0.05 and 0 < shape["above"] < 0.05


def test_fixed_step_solver_converges_and_counts_its_evaluations(example_lo_path):
    from lhe_didi.kinematics.recoil import to_zero_pt_frame
    from lhe_didi.transform import Solver

    model = DidiModel(DEFAULT_MODEL, "cpu")
    model.top_mass = 172.5
    features = model.representation.encode(to_zero_pt_frame(LheReader(example_lo_path).read_all().momenta)).features
    reference = model.flow(features, Solver("dopri5", rtol=1e-7, atol=1e-7))
    scale = np.std(reference, axis=0)
    errors = {}
    for steps in (2, 6, 12):
        model.function_evaluations = model.solves = 0
        errors[steps] = np.median(np.abs(model.flow(features, Solver("rk4", steps)) - reference) / scale)
        assert model.function_evaluations == 4 * steps * model.solves
    assert errors[12] < errors[6] < errors[2] and errors[6] < 1e-3  # a fourth-order method converging
    for bad in (dict(method="euler"), dict(method="rk4", steps=0), dict(method="dopri5", rtol=0.0)):
        with pytest.raises(LheDidiError):
            Solver(**bad)


def test_bfloat16_velocity_is_close_to_float32_and_deterministic(example_lo_path):
    from lhe_didi.kinematics.recoil import to_zero_pt_frame
    from lhe_didi.models.velocity import BFloat16Field
    from lhe_didi.transform import Solver

    model = DidiModel(DEFAULT_MODEL, "cpu")
    model.top_mass = 172.5
    features = model.representation.encode(to_zero_pt_frame(LheReader(example_lo_path).read_all().momenta)).features
    z = torch.as_tensor(model.preprocessor.forward(features, model._top()), dtype=torch.float32)
    c = torch.as_tensor(model.condition.network_input(np.full(1, 172.5)), dtype=torch.float32)
    fast = BFloat16Field(model.network)
    with torch.no_grad():
        for t in (1.0, 0.5, 0.0):
            exact, approximate = model.network(z, torch.tensor(t), c), fast(z, torch.tensor(t), c)
            assert approximate.dtype == torch.float32
            relative = torch.linalg.norm(approximate - exact) / torch.linalg.norm(exact)
            assert 0 < relative < 0.02  # bfloat16 keeps 8 bits of mantissa: ~0.5% per call
    float32 = model.flow(features, Solver("rk4", 8))
    bfloat16 = model.flow(features, Solver("rk4", 8, precision="bfloat16"))
    scale = np.std(float32, axis=0)
    assert np.median(np.abs(bfloat16 - float32) / scale) < 5e-3
    assert np.array_equal(bfloat16, model.flow(features, Solver("rk4", 8, precision="bfloat16")))
    with pytest.raises(LheDidiError, match="network precision"):
        Solver(precision="float16")


def test_bfloat16_needs_fixed_weights():
    from lhe_didi.models.velocity import BFloat16Field

    field = VelocityField(dim=4, width=8, depth=2, embedding=4, bayesian=True)
    field.sample_weights(True)
    with pytest.raises(ValueError, match="fixed weights"):
        BFloat16Field(field)
    field.sample_weights(False)
    field.eval()
    assert BFloat16Field(field)(torch.zeros(3, 4), torch.tensor(0.5)).shape == (3, 4)


def test_solver_options_are_recorded(tmp_path, example_lo_path):
    for options, recorded in (
        (["--solver", "dopri5", "--rtol", "1e-4"], {"method": "dopri5", "rtol": 1e-4}),
        (["--steps", "6", "--network-precision", "float32"], {"steps": 6, "velocity_evaluations": 24}),
        (["--network-precision", "bfloat16"], {"method": "rk4", "steps": 8, "network_precision": "bfloat16"}),
        ([], {"network_precision": "bfloat16" if native_bfloat16(torch.device("cpu")) else "float32"}),
    ):
        out = tmp_path / "out.lhe"
        result = CliRunner().invoke(
            main, ["transform", str(example_lo_path), "-o", str(out), "--device", "cpu", "--no-classifier", *options]
        )
        assert result.exit_code == 0, result.output
        solver = LheReader(out).header.lhe_didi_provenance[-1]["solver"]
        assert recorded.items() <= solver.items()


def test_overlapped_reading_and_writing_give_the_serial_bytes(tmp_path, tiny_model, example_lo_path):
    outputs = {}
    for overlap in (True, False):
        out = tmp_path / f"{overlap}.lhe.gz"
        settings = TransformSettings(model_dir=tiny_model[0], device="cpu", batch_size=150, overlap=overlap)
        report = transform_file(example_lo_path, out, settings)
        outputs[overlap] = (out.read_bytes(), report.events_out, report.unphysical)
    assert outputs[True] == outputs[False]


def test_overlapped_transform_of_a_file_broken_late_leaves_no_output(tmp_path, tiny_model, example_lo_path):
    import gzip

    text = gzip.open(example_lo_path, "rt").read()
    broken = tmp_path / "broken.lhe"
    broken.write_text(text[: int(0.8 * len(text))])  # truncated in the 5th or 6th chunk of 150
    out = tmp_path / "out.lhe"
    with pytest.raises(LheDidiError, match="truncated"):
        transform_file(broken, out, TransformSettings(model_dir=tiny_model[0], device="cpu", batch_size=150))
    assert not out.exists() and not list(tmp_path.glob(".out.lhe.*"))
