"""The input guard of transform: parameters read from hvq and lhe-didi headers, refusal, override, line-shape check."""

import gzip

import numpy as np
import pytest
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.errors import LheDidiError
from lhe_didi.input_check import LEGACY_PHYSICS, LineShape, check_parameters, header_parameters, model_physics
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import system_masses


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _with_header_line(source, tmp_path, old, new, name="edited.lhe.gz"):
    text = gzip.open(source, "rt").read()
    assert old in text
    path = tmp_path / name
    with gzip.open(path, "wt") as handle:
        handle.write(text.replace(old, new, 1))
    return path


def test_hvq_header_parameters_are_read(example_lo_path):
    stated = header_parameters(LheReader(example_lo_path).header)
    assert stated["source"] == "powheg.input in the header"
    assert (stated["top_mass"], stated["top_width"], stated["w_mass"], stated["b_mass"]) == (172.5, 1.453, 80.419, 4.75)
    assert stated["w_width"] == 2.048


def test_matching_parameters_pass_and_mismatches_are_refused_or_warned():
    physics = dict(LEGACY_PHYSICS)
    assert check_parameters({**LEGACY_PHYSICS, "source": "x"}, physics) == []
    assert check_parameters({"source": "none in the header"}, physics) == []  # nothing stated, nothing checked
    stated = {**LEGACY_PHYSICS, "top_width": 1.31, "source": "powheg.input in the header"}
    with pytest.raises(LheDidiError, match=r"Gamma_t = 1.31 GeV \(model: 1.453\)"):
        check_parameters(stated, physics)
    warnings = check_parameters(stated, physics, allow_mismatch=True)
    assert len(warnings) == 1 and "transformed anyway" in warnings[0]


def test_models_without_recorded_physics_use_the_legacy_values():
    physics = model_physics({"data": {}})
    assert physics["top_mass"] == 172.5 and "not recorded" in physics["source"]
    recorded = {"top_mass": 175.5, "top_width": 1.54, "w_mass": 80.419, "b_mass": 4.75, "source": "x"}
    assert model_physics({"physics": recorded}) is recorded


def test_transform_refuses_a_width_off_the_mass_rule_with_one_line_and_no_output(tmp_path, example_lo_path):
    """175.5 GeV is in the shipped (mass-conditional) model's range, but with the 172.5-GeV width it is not an hvq mass
    point the model was made for. (Single-mass models refusing another mass: tests/test_conditions.py.)"""
    source = _with_header_line(example_lo_path, tmp_path, "qmass  172.5", "qmass  175.5")
    out = tmp_path / "out.lhe"
    result = run("transform", source, "-o", out)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert (
        lines[-1].startswith(
            "Error: top width 1.453 GeV (powheg.input in the header) is not the width the model "
            "was trained with at m_t = 175.5 GeV (1.5433 GeV"
        )
        and "Traceback" not in result.output
    )
    assert not out.exists()


def test_override_transforms_with_a_warning_recorded_in_the_header(tmp_path, example_lo_path):
    source = _with_header_line(example_lo_path, tmp_path, "tdec/bmass 4.75", "tdec/bmass 4.8")
    out = tmp_path / "out.lhe"
    result = run("transform", source, "-o", out, "--allow-parameter-mismatch", "--no-classifier")
    assert result.exit_code == 0, result.output
    assert "Warning: input made with m_b = 4.8 GeV (model: 4.75)" in result.output
    check = LheReader(out).header.lhe_didi_provenance[-1]["input_check"]
    assert check["input_parameters"]["b_mass"] == 4.8 and len(check["parameter_warnings"]) == 1
    assert "line shape: m(b l nu) below m_t - 15 GeV" in check["line_shape_check"]


def test_line_shape_counts_and_flags_a_different_input(example_lo_path):
    batch = LheReader(example_lo_path).read_all()
    shape = LineShape(172.5)
    shape.add(batch.momenta)
    masses = system_masses(batch.momenta)
    tops = np.concatenate([masses["t"], masses["tbar"]])
    assert shape.total == 2000 and shape.below == int(np.sum(tops < 157.5)) and shape.above == int(np.sum(tops > 187.5))
    same = {**shape.fractions()}
    assert shape.compare(same)[1] is False
    # a training sample with a third of the low tail (as the doubly-resonant generator has) is flagged once the
    # input has the statistics of a transform's first batch (here the same events counted 20 times)
    other = {**same, "below": same["below"] / 3, "top_candidates": 1_000_000}
    assert shape.compare(other)[1] is False  # 2000 top candidates: not significant at 5 sigma
    for _ in range(19):
        shape.add(batch.momenta)
    line, differs = shape.compare(other)
    assert differs and "DIFFERENT" in line
