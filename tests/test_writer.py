"""Writer: valid LHEF 3.0 with rebuilt incoming partons and resonances, weights, atomic output."""

import json
import os
import re
import stat
import subprocess
import sys

import numpy as np
import pylhe
import pytest
import torch

from lhe_didi.errors import EventContentError
from lhe_didi.io.checks import check_event
from lhe_didi.io.reader import LheReader
from lhe_didi.io.writer import LheWriter
from lhe_didi.kinematics import event_map as em
from lhe_didi.kinematics.observables import invariant_mass
from lhe_didi.models.store import save_model_dir


def through_15d(batch):
    encoded = em.encode(batch.momenta)
    momenta = em.decode(
        encoded.features[:, em.PHYSICAL_COLUMNS], encoded.rotation, batch.masses, batch.extra_transverse_momentum
    )
    return batch.with_momenta(momenta)


@pytest.fixture(scope="module")
def nlo_round_trip(tmp_path_factory, hvq_nlo_path):
    out = tmp_path_factory.mktemp("writer") / "roundtrip.lhe.gz"
    reader = LheReader(hvq_nlo_path)
    with LheWriter(out, reader.header, {"command": "test"}, {"classifier": "w = C/(1-C)"}) as writer:
        for batch in reader.batches(600):
            writer.write(through_15d(batch), {"classifier": np.linspace(0.5, 2.0, len(batch))})
    return reader, out


def test_written_events_satisfy_invariants(nlo_round_trip):
    _, out = nlo_round_trip
    events = list(pylhe.LHEFile.fromfile(out).events)
    assert len(events) == 2000
    problems = [(i, p) for i, e in enumerate(events) for p in check_event(e.particles)]
    assert problems == []
    for event in events[:300]:
        parts = event.particles
        assert len(parts) == event.eventinfo.nparticles
        assert all(p.spin == 9.0 for p in parts)
        status2 = [p for p in parts if p.status == 2]
        assert sorted(p.id for p in status2) == [-24, -6, 6, 24]
        for p in parts:
            if p.status == -1:  # massless incoming partons along the beam axis
                assert p.px == 0.0 and p.py == 0.0 and p.e == pytest.approx(abs(p.pz), rel=1e-12)


def test_round_trip_reproduces_momenta_flavours_colours_weights(nlo_round_trip, nlo_batch):
    reader, out = nlo_round_trip
    back_reader = LheReader(out)
    back = back_reader.read_all()
    scale = nlo_batch.momenta[:, :5, :1]
    assert np.all(np.abs(back.momenta[:, :5] - nlo_batch.momenta[:, :5]) <= 1e-9 * scale)
    for name in ("pdg", "colours", "incoming_pdg", "incoming_colours", "resonance_colours", "process_id"):
        np.testing.assert_array_equal(getattr(back, name), getattr(nlo_batch, name), err_msg=name)
    np.testing.assert_allclose(back.weight, nlo_batch.weight, rtol=1e-10)
    np.testing.assert_allclose(back.scale, nlo_batch.scale, rtol=1e-10)
    np.testing.assert_array_equal(back.n_extras, nlo_batch.n_extras)
    np.testing.assert_allclose(back.named_weights["classifier"][:600], np.linspace(0.5, 2.0, 600), rtol=1e-10)
    assert back_reader.header.weight_ids == ["classifier"]
    # the input's <init> block and POWHEG comment survive, and provenance is machine-readable
    assert back_reader.header.init_block == reader.header.init_block
    assert reader.header.preamble.strip() in back_reader.header.preamble
    block = re.search(r"<lhe_didi>\n(.*?)\n</lhe_didi>", back_reader.header.preamble, re.S).group(1)
    assert json.loads(block)["command"] == "test"


def test_resonance_masses_equal_daughter_invariant_masses(nlo_round_trip):
    _, out = nlo_round_trip
    for event in list(pylhe.LHEFile.fromfile(out).events)[:200]:
        parts = event.particles
        for index, res in enumerate(parts, 1):
            if res.status != 2:
                continue
            daughters = np.array([[p.e, p.px, p.py, p.pz] for p in parts if p.mother1 == index])
            assert len(daughters) == 2
            assert (
                abs(res.m - invariant_mass(daughters.sum(axis=0))) <= 1e-9 * res.e
            )  # m^2 = E^2 - p^2 is ill-conditioned


def test_checker_detects_broken_records(nlo_round_trip):
    _, out = nlo_round_trip
    event = next(iter(pylhe.LHEFile.fromfile(out).events))
    event.particles[-1].px += 1.0
    assert any("momentum not conserved" in p for p in check_event(event.particles))
    assert any("differs from the sum of its daughters" in p for p in check_event(event.particles))
    event.particles[-5].color1 = 999
    assert any("colour flow" in p for p in check_event(event.particles))


def test_failed_write_leaves_no_file(tmp_path, example_lo_path):
    reader = LheReader(example_lo_path)
    batch = reader.read_all()
    bad = batch.momenta.copy()
    bad[3, 0, 3] += 7000.0  # a b quark with 7 TeV more pz: x1 > 1
    out = tmp_path / "out.lhe"
    with pytest.raises(EventContentError, match="event 3: momentum fractions"):
        with LheWriter(out, reader.header, {}) as writer:
            writer.write(batch.with_momenta(bad))
    assert list(tmp_path.iterdir()) == []


def test_outputs_get_the_permissions_of_a_normally_created_file(tmp_path, example_lo_path):
    """Temporary files and directories are owner-only (mkstemp/mkdtemp); the finished output is not."""
    reader = LheReader(example_lo_path)
    old_umask = os.umask(0o022)
    try:
        with LheWriter(tmp_path / "o.lhe.gz", reader.header, {}) as writer:
            writer.write(reader.read_all())
        save_model_dir(tmp_path / "model", {"w": torch.zeros(2)}, {"kind": "test"}, "card")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "o.lhe.gz").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "model" / "config.json").stat().st_mode) == 0o644
    assert (
        stat.S_IMODE((tmp_path / "model" / "weights.safetensors").stat().st_mode) == 0o644
    )  # safetensors writes 0o600


def test_sigterm_while_writing_leaves_no_file(tmp_path, example_lo_path):
    """A batch system's SIGTERM during a write removes the temporary file (exit status 143), as Ctrl-C does."""
    script = f"""
import os, signal, time
from lhe_didi.cli import exit_on_sigterm
from lhe_didi.io.reader import LheReader
from lhe_didi.io.writer import LheWriter
exit_on_sigterm()
reader = LheReader({str(example_lo_path)!r})
with LheWriter({str(tmp_path / "o.lhe")!r}, reader.header, {{}}) as writer:
    writer.write(reader.read_all())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 143, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_undeclared_weight_rejected(tmp_path, example_lo_path):
    reader = LheReader(example_lo_path)
    with pytest.raises(ValueError, match="not declared"):
        with LheWriter(tmp_path / "o.lhe", reader.header, {}) as writer:
            writer.write(reader.read_all(), {"classifier": np.ones(1000)})
    assert list(tmp_path.iterdir()) == []


def test_each_event_keeps_its_rwgt_line_first(nlo_round_trip, hvq_nlo_path):
    """POWHEG's '#rwgt' line (radiation type first) survives as the first comment of every event, verbatim."""
    _, out = nlo_round_trip
    original = [e.optional for e in pylhe.LHEFile.fromfile(hvq_nlo_path).events]
    written = [e.optional for e in pylhe.LHEFile.fromfile(out).events]
    assert len(written) == len(original) == 2000
    assert all(w[0] == o[0] and o[0].startswith("#rwgt") for w, o in zip(written, original, strict=True))


def test_events_without_rwgt_line_get_the_default(tmp_path, example_lo_path):
    from lhe_didi.io.writer import DEFAULT_RADIATION_COMMENT

    reader = LheReader(example_lo_path)
    batch = next(reader.batches(50))
    batch.radiation_comment = np.full(len(batch), "", dtype=object)  # as from another generator
    out = tmp_path / "default.lhe"
    with LheWriter(out, reader.header, {"command": "test"}) as writer:
        writer.write(batch)
    comments = [e.optional[0] for e in pylhe.LHEFile.fromfile(out).events]
    assert comments == [DEFAULT_RADIATION_COMMENT] * 50
    assert [int(x) for x in DEFAULT_RADIATION_COMMENT.split()[1:]] == [1, 1, 0, 0, 0, 0]
