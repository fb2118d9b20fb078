"""CLI: version, inspect, one-line errors with non-zero exit for bad input."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from lhe_didi import __version__
from lhe_didi.cli import main
from lhe_didi.io.reader import LheReader


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_inspect_lo_file_shows_top_peak_at_172_5(hvq_lo_path):
    result = run("inspect", hvq_lo_path)
    assert result.exit_code == 0, result.output
    assert "events            100000" in result.output
    assert "10.4487" in result.output  # sigma x BR from <init>, pb
    top = next(line for line in result.output.splitlines() if line.startswith("m(t   )"))
    assert "peak  172.50 GeV" in top
    assert "e+ mu-: 50.3%, mu+ e-: 49.7%" in result.output


def test_inspect_nlo_reports_extra_partons(hvq_nlo_path):
    result = run("inspect", hvq_nlo_path)
    assert result.exit_code == 0
    assert "extra partons     100.0% of events" in result.output
    assert "negative weights 4 (0.20%)" in result.output  # the slice's one negative weight (pylhe: test_reader)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"not an event file\n", "not a Les Houches event file"),
        (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "cannot decompress"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, content, message):
    path = tmp_path / "input.lhe"
    if content is not None:
        path.write_bytes(content)
    result = run("inspect", path)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_truncated_file_via_subprocess_has_no_traceback(tmp_path, example_lo_path):
    text = gzip.open(example_lo_path, "rt").read()
    path = tmp_path / "cut.lhe"
    path.write_text(text[: len(text) * 2 // 3])
    proc = subprocess.run([sys.executable, "-m", "lhe_didi", "inspect", str(path)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("Error: ") and "truncated" in proc.stderr


def test_skip_invalid_counts_skipped_events(tmp_path, example_lo_path):
    text = gzip.open(example_lo_path, "rt").read()
    head, _, rest = text.partition("<event>")
    events = rest.split("<event>")
    events[0] = events[0].replace("\n      -5     1", "\n      21     1", 1)  # b~ -> gluon
    path = tmp_path / "bad.lhe"
    path.write_text(head + "<event>" + "<event>".join(events))
    assert run("inspect", path).exit_code == 1
    result = run("inspect", "--skip-invalid", path)
    assert result.exit_code == 0
    assert "events            999 (skipped 1)" in result.output
    assert "skipped           1 x no dileptonic final state" in result.output


def test_train_and_transform_from_the_command_line(tmp_path, example_lo_path, hvq_nlo_path):
    model = tmp_path / "model"
    result = run(
        "train",
        example_lo_path,
        hvq_nlo_path,
        "-o",
        model,
        "--epochs",
        "2",
        "--width",
        "16",
        "--depth",
        "1",
        "--embedding",
        "8",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "wrote model" in result.output and (model / "MODEL_CARD.md").exists()
    # batch mode (no terminal): one line per training file once it is read
    assert f"read 1000 events of {example_lo_path}" in result.output and f"events of {hvq_nlo_path}" in result.output
    preprocessing = json.loads((model / "config.json").read_text())["preprocessing"]
    assert (preprocessing["representation"], preprocessing["breit_wigner_scale"]) == ("decay-chain-beams", "half-width")
    out = tmp_path / "out.lhe"
    result = run("transform", example_lo_path, "-o", out, "--model", model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "of 1000 events" in result.output and out.exists()
    # the shipped classifier was trained against the shipped DiDi model, not this one
    assert "no classifier weights attached" in result.output and "didi_classifier" not in out.read_text()
    result = run("transform", example_lo_path, "-o", tmp_path / "draw.lhe", "--model", model, "--posterior-draw", "1")
    assert result.exit_code == 1 and "needs a Bayesian model" in result.output
    assert not (tmp_path / "draw.lhe").exists()


def test_train_with_missing_input_is_a_clear_error(tmp_path, example_lo_path):
    result = run("train", example_lo_path, tmp_path / "missing.lhe", "-o", tmp_path / "m")
    assert result.exit_code == 1 and "no such file" in result.output
    assert not (tmp_path / "m").exists()


def test_generate_writes_readable_sample(tmp_path):
    out = tmp_path / "on.lhe.gz"
    result = run("generate", "onshell", "-n", "50", "--seed", "1", "-o", out)
    assert result.exit_code == 0, result.output
    assert "wrote 50 events" in result.output
    summary = run("inspect", out)
    assert summary.exit_code == 0 and "events            50" in summary.output
    # the generator's own provenance block is found although its header comment names the <lhe_didi> tag
    assert "made by lhe-didi  generate\n" in summary.output and "tail bias" not in summary.output


def test_inspect_reports_tail_bias_and_effective_events(tmp_path):
    out = tmp_path / "biased.lhe"
    assert (
        run("generate", "doubly-resonant", "-n", "300", "--seed", "2", "--tail-bias", "100", "-o", out).exit_code == 0
    )
    summary = run("inspect", out)
    assert summary.exit_code == 0 and "made by lhe-didi  generate (tail bias, pT0 100 GeV" in summary.output
    weights = LheReader(out).read_all().weight
    expected = weights.sum() ** 2 / (weights**2).sum() / len(weights)
    assert expected < 0.95 and f"effective events {100 * expected:.1f}%" in summary.output


def test_generate_rejects_non_positive_tail_bias(tmp_path):
    result = run("generate", "onshell", "-n", "5", "--tail-bias", "0", "-o", tmp_path / "x.lhe")
    assert result.exit_code == 2 and "--tail-bias" in result.output and not (tmp_path / "x.lhe").exists()


def test_generate_onshell_refuses_tail_bias(tmp_path):
    """hvq's own events are unweighted: a tail bias is refused with one line, nothing written."""
    result = run("generate", "onshell", "-n", "5", "--tail-bias", "300", "-o", tmp_path / "x.lhe")
    assert result.exit_code == 2 and "--tail-bias" in result.output and not (tmp_path / "x.lhe").exists()


def test_generate_rejects_lepton_order(tmp_path):
    result = run("generate", "onshell", "-n", "5", "--leptons", "mu-", "e+", "-o", tmp_path / "x.lhe")
    assert result.exit_code == 2 and "positive lepton first" in result.output
    assert not (tmp_path / "x.lhe").exists()


def test_merge_concatenates_runs_and_combines_cross_sections(tmp_path, example_lo_path):
    from lhe_didi.io.writer import LheWriter

    reader = LheReader(example_lo_path)
    events = reader.read_all()
    sigma, error = reader.header.total_cross_section
    parts = []
    for name, rows, scale in (("a.lhe", slice(0, 400), 1.0), ("b.lhe.gz", slice(400, 1000), 2.0)):
        # the second run quotes a cross section 10% higher with twice the error
        text = reader.header.init_block.replace(f"{sigma:.5E}", f"{sigma * (1 + 0.1 * (scale - 1)):.5E}")
        text = text.replace(f"{error:.5E}", f"{error * scale:.5E}")
        header = type(reader.header)(**{**reader.header.__dict__, "init_block": text})
        with LheWriter(tmp_path / name, header, {"command": "test split"}) as writer:
            writer.write(events.select(rows))
        parts.append(tmp_path / name)
    assert LheReader(parts[1]).header.total_cross_section[0] == pytest.approx(1.1 * sigma, rel=1e-4)
    result = run("merge", *parts, "-o", tmp_path / "merged.lhe")
    assert result.exit_code == 0, result.output
    assert "wrote 1000 events (400 + 600)" in result.output
    merged = LheReader(tmp_path / "merged.lhe")
    back = merged.read_all()
    assert back.index.tolist() == list(range(1000))
    assert (back.momenta == events.momenta).all() and (back.weight == events.weight).all()
    # inverse-variance mean of sigma (error e) and 1.1 sigma (error 2e): (4 + 1.1) / 5 sigma, error 2e/sqrt(5)
    x, e = merged.header.total_cross_section
    assert x == pytest.approx(1.02 * sigma, rel=1e-4) and e == pytest.approx(2 * error / 5**0.5, rel=1e-3)
    result = run("merge", parts[0], "-o", tmp_path / "one.lhe")
    assert result.exit_code == 1 and "at least two" in result.output and not (tmp_path / "one.lhe").exists()


def system_masses(momenta):
    from lhe_didi.kinematics.observables import system_masses as masses

    return masses(momenta)


def _generate_at_mass(sample, mass, events, seed, out):
    """Run generate at a top mass; the events, the generate provenance block and the median m(b l+ nu)."""
    from lhe_didi.kinematics.observables import system_masses

    result = run("generate", sample, "-n", events, "--seed", seed, "--top-mass", mass, "-o", out)
    assert result.exit_code == 0, result.output
    reader = LheReader(out)
    batch = reader.read_all()
    return batch, reader.header.lhe_didi_provenance[0], float(np.median(system_masses(batch.momenta)["t"]))


def test_generate_at_another_top_mass_records_it_and_the_default_model_takes_it(tmp_path):
    """--top-mass moves the peak and the scale, the width follows Gamma_LO, every parameter is in the header;
    the shipped mass-conditional model reads the mass from that header and its output peaks there."""
    out = tmp_path / "on175.lhe"
    batch, block, median_top = _generate_at_mass("onshell", 175.5, 400, 3, out)
    assert abs(median_top - 175.5) < 0.4
    assert np.all(batch.scale == 175.5)
    assert block["top_mass_GeV"] == 175.5 and abs(block["top_width_GeV"] - 1.5433) < 1e-4
    assert block["hvq"]["top_width_GeV"] == block["top_width_GeV"] and block["scale_GeV"] == 175.5
    result = run("transform", out, "-o", tmp_path / "off.lhe", "--device", "cpu")
    assert result.exit_code == 0, result.output
    transformed = LheReader(tmp_path / "off.lhe")
    assert transformed.header.didi_top_mass == 175.5
    tops = system_masses(transformed.read_all().momenta)["t"]
    assert abs(np.median(tops[np.abs(tops - 175.5) < 5]) - 175.5) < 0.3


def test_generate_refuses_a_top_mass_outside_its_range(tmp_path):
    result = run("generate", "onshell", "-n", "5", "--top-mass", "190", "-o", tmp_path / "x.lhe")
    assert result.exit_code == 2 and "--top-mass" in result.output and not (tmp_path / "x.lhe").exists()


def test_generate_offshell_at_another_top_mass(tmp_path):
    """The off-shell reference follows --top-mass too: Breit-Wigner channels, UFO mass and scale."""
    _, block, median_top = _generate_at_mass("offshell", 169.5, 300, 4, tmp_path / "off169.lhe")
    assert abs(median_top - 169.5) < 0.5
    assert block["ufo_parameters"]["MT"] == 169.5 and abs(block["top_width_GeV"] - 1.3657) < 1e-4
