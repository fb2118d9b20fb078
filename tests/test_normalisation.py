"""Normalisation of transformed files: the input's sigma x BR, or scaled to the model's off-shell reference."""

import json

import numpy as np
import pylhe
import pytest
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.io.reader import LheReader
from lhe_didi.normalisation import offshell_factor
from lhe_didi.transform import DEFAULT_MODEL


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def entry(mass, sigma):
    return {"cross_section_pb": sigma, "parameters": {"top_mass": mass}}


def test_factor_is_the_ratio_interpolated_in_the_mass():
    config = {
        "data": {"onshell": [entry(170.0, 6.0), entry(175.0, 5.0)], "offshell": [entry(170.0, 6.6), entry(175.0, 5.75)]}
    }
    assert offshell_factor(config, 170.0) == pytest.approx(1.10)
    assert offshell_factor(config, 175.0) == pytest.approx(1.15)
    assert offshell_factor(config, 172.5) == pytest.approx(1.125)
    single = {
        "data": {"onshell": {"cross_section_pb": 5.0}, "offshell": {"cross_section_pb": 5.4}},
        "physics": {"top_mass": 172.5},
    }
    assert offshell_factor(single, None) == pytest.approx(1.08)
    assert offshell_factor({"data": {"onshell": {"path": "x"}, "offshell": {"path": "y"}}}, 172.5) is None


def test_offshell_normalisation_scales_init_and_every_weight(tmp_path, example_lo_path):
    config = json.loads((DEFAULT_MODEL / "config.json").read_text())
    sigma = {
        side: {e["parameters"]["top_mass"]: e["cross_section_pb"] for e in config["data"][side]}
        for side in config["data"]
    }
    expected = sigma["offshell"][172.5] / sigma["onshell"][172.5]  # the example is at 172.5 GeV, a trained mass
    plain, scaled = tmp_path / "input.lhe", tmp_path / "offshell.lhe"
    assert run("transform", example_lo_path, "-o", plain, "--device", "cpu").exit_code == 0
    result = run("transform", example_lo_path, "-o", scaled, "--device", "cpu", "--normalisation", "offshell")
    assert result.exit_code == 0, result.output
    assert f"sigma_off/sigma_on = {expected:.4f}" in result.output
    before, after = LheReader(plain), LheReader(scaled)
    (x0, e0, p0), (x1, e1, p1) = before.header.cross_sections[0], after.header.cross_sections[0]
    assert p0 == p1 and x1 == pytest.approx(expected * x0, rel=1e-8) and e1 == pytest.approx(expected * e0, rel=1e-8)
    w0 = np.array([e.eventinfo.weight for e in pylhe.LHEFile.fromfile(plain).events])
    w1 = np.array([e.eventinfo.weight for e in pylhe.LHEFile.fromfile(scaled).events])
    np.testing.assert_allclose(w1, expected * w0, rtol=1e-9)  # same seed: the same events
    blocks = [b for b in after.header.lhe_didi_provenance if b.get("command") == "transform"]
    assert blocks[-1]["normalisation"]["carried"] == "offshell"
    default = [b for b in before.header.lhe_didi_provenance if b.get("command") == "transform"][-1]["normalisation"]
    assert default["carried"] == "input" and default["offshell_factor"] == pytest.approx(expected)
    assert "normalisation     off-shell" in run("inspect", scaled).output
    assert "radiation types   1: 100.0%" in run("inspect", scaled).output  # hvq LO: POWHEG's radiation type 1


def test_offshell_normalisation_refused_without_training_cross_sections(tmp_path, monkeypatch, example_lo_path):
    from lhe_didi import transform

    monkeypatch.setattr(transform, "offshell_factor", lambda config, mass: None)  # a model that records none
    out = tmp_path / "out.lhe"
    result = run("transform", example_lo_path, "-o", out, "--device", "cpu", "--normalisation", "offshell")
    assert result.exit_code == 1 and not out.exists()
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "records no training cross sections" in lines[0]
