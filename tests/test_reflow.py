"""Reflow: the student learns the teacher's map with straighter paths; provenance and refusals."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_conditions import at_mass

from lhe_didi.cli import main
from lhe_didi.training.didi import DidiSettings, train_didi
from lhe_didi.training.reflow import teacher_pairs
from lhe_didi.transform import DidiModel, Solver

TEACHER = dict(width=32, depth=2, embedding=8, batch_size=128, epochs=12, lr=1e-3, max_lr=1e-2, seed=1, device="cpu")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def teacher_and_student(tmp_path_factory, example_lo_path, hvq_nlo_path):
    """A small teacher (real hvq LO -> NLO decay products, independent pairs: curved paths) and its reflow."""
    folder = tmp_path_factory.mktemp("reflow")
    teacher = folder / "teacher"
    train_didi(example_lo_path, hvq_nlo_path, teacher, DidiSettings(**TEACHER), progress=False)
    student = folder / "student"
    result = run(
        "train", "reflow", teacher, example_lo_path, "-o", student, "--epochs", "60", "--batch-size", "128",
        "--max-lr", "3e-3", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return teacher, student, result.output


def _held_out_pairs(teacher_dir, path):
    """Standardised on-shell coordinates of the example's last 100 events (the validation tail is random; these
    were seen in training too, which is what a reflow student is asked to reproduce) and the teacher's images."""
    teacher = DidiModel(teacher_dir, "cpu")
    pairs = teacher_pairs(teacher, [path], progress=False)
    return torch.as_tensor(pairs.onshell[-100:]), torch.as_tensor(pairs.offshell[-100:])


def test_student_reproduces_the_teacher_map_with_straighter_paths(teacher_and_student, example_lo_path):
    teacher_dir, student_dir, output = teacher_and_student
    z1, z0_teacher = _held_out_pairs(teacher_dir, example_lo_path)
    teacher, student = DidiModel(teacher_dir, "cpu"), DidiModel(student_dir, "cpu")
    exact = Solver("dopri5", rtol=1e-7, atol=1e-7)
    z0_student = student.flow_standardised(z1, exact)
    moved = torch.linalg.norm(z0_teacher - z1, dim=1).mean()
    missed = torch.linalg.norm(z0_student - z0_teacher, dim=1).mean()
    assert missed < 0.5 * moved, (missed, moved)  # learns the map, not the identity

    # straightness: one rk4 step against the exact solve of the same network
    def one_step_error(model, z0_exact):
        return torch.linalg.norm(model.flow_standardised(z1, Solver("rk4", steps=1)) - z0_exact, dim=1).mean()

    teacher_error = one_step_error(teacher, teacher.flow_standardised(z1, exact))
    student_error = one_step_error(student, z0_student)
    assert student_error < 0.5 * teacher_error, (student_error, teacher_error)
    assert "as the teacher ->" in output


def test_student_records_its_teacher_and_keeps_the_teachers_inputs(teacher_and_student, example_lo_path):
    teacher_dir, student_dir, _ = teacher_and_student
    teacher = json.loads((teacher_dir / "config.json").read_text())
    student = json.loads((student_dir / "config.json").read_text())
    assert student["reflow"]["teacher"] == teacher["content_hash"]
    assert student["reflow"]["pairs"][0]["events_used"] == 1000
    assert student["reflow"]["teacher_solver"] == {
        "method": "rk4",
        "steps": 8,
        "velocity_evaluations": 32,
        "network_precision": "float32",
    }
    for key in ("preprocessing", "feature_ranges", "data", "physics", "architecture"):
        assert student[key] == teacher[key], key
    assert student["training"]["coupling"] == "reflow"
    history = student["training"]["history"]
    assert history[-1]["validation_loss"] < 0.5 * history[0]["validation_loss"]
    card = (student_dir / "MODEL_CARD.md").read_text()
    assert "**Reflow**" in card and teacher["content_hash"][:16] in card


def test_reflow_of_a_conditional_teacher_needs_every_trained_mass(tmp_path, example_text):
    files = [at_mass(example_text, tmp_path / f"at{m}.lhe", m, events=200) for m in (170.5, 174.5)]
    teacher = tmp_path / "teacher"
    tiny = ("--epochs", "1", "--width", "16", "--depth", "1", "--embedding", "8", "--device", "cpu")
    result = run("train", "didi", files[0], files[0], files[1], files[1], "--condition-on-mass", "-o", teacher, *tiny)
    assert result.exit_code == 0, result.output
    refused = run("train", "reflow", teacher, files[0], "-o", tmp_path / "s", "--device", "cpu")
    assert refused.exit_code == 1 and "needs on-shell files at [174.5] GeV too" in refused.output
    assert not (tmp_path / "s").exists()
    result = run("train", "reflow", teacher, *files, "-o", tmp_path / "s", "--epochs", "1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["conditions"]["trained_masses"] == [170.5, 174.5]
    assert [p["parameters"]["top_mass"] for p in config["reflow"]["pairs"]] == [170.5, 174.5]


def test_teacher_pairs_rows_are_the_teachers_solve(teacher_and_student, example_lo_path):
    teacher_dir, _, _ = teacher_and_student
    teacher = DidiModel(teacher_dir, "cpu")
    pairs = teacher_pairs(teacher, [example_lo_path], progress=False)
    # the same events in another order, solved as transform would in float32
    reversed_onshell = torch.as_tensor(pairs.onshell[::-1].copy())
    again = teacher.flow_standardised(reversed_onshell, Solver("rk4", 8, precision="float32"))
    np.testing.assert_allclose(again.numpy()[::-1], pairs.offshell, rtol=1e-5, atol=1e-5)
    assert len(pairs.onshell) == len(pairs.offshell) == 1000


def test_student_steps_and_lineage_reach_the_transform_header(teacher_and_student, tmp_path, example_lo_path):
    from lhe_didi.io.reader import LheReader

    teacher_dir, _, _ = teacher_and_student
    student = tmp_path / "student3"
    args = ("--epochs", "1", "--batch-size", "256", "--device", "cpu", "--transform-steps", "3")
    assert run("train", "reflow", teacher_dir, example_lo_path, "-o", student, *args).exit_code == 0
    assert "**Transform default**: rk4 with 3 steps." in (student / "MODEL_CARD.md").read_text()
    out = tmp_path / "out.lhe"
    result = run("transform", example_lo_path, "-o", out, "--model", student, "--device", "cpu", "--no-classifier")
    assert result.exit_code == 0, result.output
    header = LheReader(out).header
    block = [b for b in header.lhe_didi_provenance if b.get("command") == "transform"][-1]
    assert block["solver"]["steps"] == 3 and block["solver"]["velocity_evaluations"] == 12
    teacher_hash = json.loads((teacher_dir / "config.json").read_text())["content_hash"]
    assert header.didi_model_lineage == (DidiModel(student, "cpu").content_hash, teacher_hash)
    explicit = run("transform", example_lo_path, "-o", tmp_path / "o8.lhe", "--model", student, "--steps", "8",
                   "--device", "cpu", "--no-classifier")  # fmt: skip
    assert explicit.exit_code == 0
    block = [b for b in LheReader(tmp_path / "o8.lhe").header.lhe_didi_provenance if b.get("command") == "transform"]
    assert block[-1]["solver"]["steps"] == 8


def test_shipped_classifier_follows_a_student_of_its_didi_model(capsys):
    from lhe_didi.reweight import DEFAULT_CLASSIFIER, ClassifierModel, resolve_classifier

    shipped_didi = ClassifierModel(DEFAULT_CLASSIFIER, "cpu").didi_model_hash
    assert resolve_classifier(None, ("0" * 64, shipped_didi), "cpu") is not None  # a student of the shipped model
    assert "no classifier weights attached" not in capsys.readouterr().err
    assert resolve_classifier(None, ("0" * 64,), "cpu") is None
    assert "no classifier weights attached" in capsys.readouterr().err


def test_training_continues_from_a_student_of_the_same_teacher_only(teacher_and_student, tmp_path, example_lo_path):
    teacher_dir, student_dir, _ = teacher_and_student
    args = ("--epochs", "1", "--batch-size", "256", "--device", "cpu")
    out = tmp_path / "more"
    result = run("train", "reflow", teacher_dir, example_lo_path, "-o", out, "--start-from", student_dir, *args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    first = config["training"]["history"][0]["validation_loss"]
    student = json.loads((student_dir / "config.json").read_text())
    assert config["reflow"]["started_from"] == student["content_hash"]
    assert first < 0.5 * student["training"]["history"][0]["validation_loss"]  # starts where the student ended
    refused = run("train", "reflow", teacher_dir, example_lo_path, "-o", tmp_path / "x", "--start-from", teacher_dir)
    assert refused.exit_code == 1 and "is not a reflow student of" in refused.output


def test_shipped_reflow_student_reproduces_the_default_model_in_four_steps(tmp_path, example_lo_path):
    """`--model didi-reflow`: the shipped student of the default model; 4 rk4 steps by its config, the default
    classifier attached through its lineage, and per event the map of the teacher for nearly every top."""
    from lhe_didi.io.reader import LheReader
    from lhe_didi.kinematics.observables import system_masses
    from lhe_didi.shipped import resolve_model
    from lhe_didi.transform import DEFAULT_MODEL

    student = resolve_model("didi-reflow")
    config = json.loads((student / "config.json").read_text())
    assert config["reflow"]["teacher"] == DidiModel(DEFAULT_MODEL, "cpu").content_hash
    assert config["transform"] == {"rk4_steps": 4}
    outputs = {}
    for name in ("didi-default", "didi-reflow"):
        out = tmp_path / f"{name}.lhe"
        result = run("transform", example_lo_path, "-o", out, "--model", name, "--device", "cpu")
        assert result.exit_code == 0, result.output
        outputs[name] = LheReader(out).read_all()
        block = [b for b in LheReader(out).header.lhe_didi_provenance if b.get("command") == "transform"][-1]
        assert block["solver"]["steps"] == (4 if name == "didi-reflow" else 8)
        assert "didi_classifier" in outputs[name].named_weights  # the default classifier follows the lineage
    teacher, student_events = outputs["didi-default"], outputs["didi-reflow"]
    common = np.intersect1d(teacher.source_index, student_events.source_index)
    pick = {k: np.searchsorted(v.source_index, common) for k, v in outputs.items()}
    masses = {k: system_masses(v.momenta[pick[k]]) for k, v in outputs.items()}
    delta = np.abs(np.concatenate([masses["didi-reflow"][t] - masses["didi-default"][t] for t in ("t", "tbar")]))
    assert len(common) >= 995 and np.median(delta) < 0.05 and np.mean(delta > 1.0) < 0.08
