"""Reader: identification of the six decay products, extra partons, header, bad input."""

import gzip
import itertools

import numpy as np
import pylhe
import pytest

from lhe_didi.errors import EventContentError, LheFormatError
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import system_masses

# Positions of b, l+, nu, b~, l-, nu~ in the 12-particle LO hvq record (0-based).
LO_POSITIONS = [5, 8, 9, 7, 10, 11]


def test_lo_file_identification_matches_record_layout(example_lo_path):
    batch = LheReader(example_lo_path).read_all()
    assert len(batch) == 1000
    for i, event in enumerate(itertools.islice(pylhe.LHEFile.fromfile(example_lo_path).events, 200)):
        expected = [
            [event.particles[j].e, event.particles[j].px, event.particles[j].py, event.particles[j].pz]
            for j in LO_POSITIONS
        ]
        np.testing.assert_array_equal(batch.momenta[i], expected)
    assert set(batch.pdg[:, 0]) == {5} and set(batch.pdg[:, 3]) == {-5}
    assert set(batch.pdg[:, 1]) <= {-11, -13} and set(batch.pdg[:, 4]) <= {11, 13}
    assert set(batch.pdg[:, 2]) <= {12, 14} and set(batch.pdg[:, 5]) <= {-12, -14}
    # e+ mu- and mu+ e- only, never same flavour
    assert np.all(-batch.pdg[:, 1] != batch.pdg[:, 4])
    assert batch.n_extras.sum() == 0
    np.testing.assert_allclose(batch.masses[:, [0, 3]], 4.75)


def test_full_lo_file_counts_and_top_window(hvq_lo_path):
    reader = LheReader(hvq_lo_path)
    n, masses = 0, []
    for batch in reader.batches(25_000):
        n += len(batch)
        masses.append(system_masses(batch.momenta)["t"])
    assert n == 100_000 and reader.skipped == []
    m_top = np.concatenate(masses)
    # hvq's virtuality window: m_W^2 < m_t*^2 < 2 m_t^2
    assert m_top.min() > 80.419 - 1e-3 and m_top.max() < np.sqrt(2) * 172.5 + 1e-3
    assert reader.header.cross_sections == [(10.4487, 0.00756404, 311000)]
    assert reader.header.beam_energies == (6500.0, 6500.0)


def test_full_nlo_file_counts(hvq_nlo_full_path):
    batch = LheReader(hvq_nlo_full_path).read_all()
    assert len(batch) == 5000
    assert np.bincount(batch.n_extras).tolist() == [1, 4999]
    assert (batch.weight < 0).sum() == 9


def test_nlo_file_extra_partons_and_balance(nlo_batch, hvq_nlo_path):
    events = list(pylhe.LHEFile.fromfile(hvq_nlo_path).events)  # the independent count: pylhe's records
    assert len(nlo_batch) == len(events) == 2000
    final_partons = [sum(p.status == 1 and abs(p.id) in (1, 2, 3, 4, 5, 21) for p in e.particles) for e in events]
    np.testing.assert_array_equal(nlo_batch.n_extras, np.asarray(final_partons) - 2)  # minus the two decay b quarks
    assert nlo_batch.n_extras.sum() > 0  # NLO: events with the extra parton
    total_pt = nlo_batch.momenta[:, :, 1:3].sum(axis=1) + nlo_batch.extra_transverse_momentum
    assert np.abs(total_pt).max() < 1e-6  # balance holds only when the extra parton is included
    assert np.abs(nlo_batch.momenta[:, :, 1:3].sum(axis=1)).max() > 1.0
    # extra b quarks from radiation are not confused with the decay b quarks
    extra_pdg = np.concatenate([np.asarray(x) for x in nlo_batch.extras.pdg.tolist()])
    assert np.isin(extra_pdg, [5, -5]).sum() > 0
    m = system_masses(nlo_batch.momenta)
    assert abs(np.median(m["t"]) - 172.5) < 0.2 and abs(np.median(m["tbar"]) - 172.5) < 0.2
    assert (nlo_batch.weight < 0).sum() == sum(e.eventinfo.weight < 0 for e in events)


def test_header_and_init_kept_verbatim(example_lo_path, example_text):
    header = LheReader(example_lo_path).header
    assert header.root_tag == '<LesHouchesEvents version="3.0">'
    assert example_text.startswith(header.root_tag + header.preamble + header.init_block)
    assert "Input file powheg.input contained" in header.preamble
    assert header.init_block.startswith("<init>") and header.init_block.endswith("</init>")


def _write(tmp_path, name, text, compress=False):
    path = tmp_path / name
    if compress:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def _first_events(text: str, n: int) -> str:
    head, _, rest = text.partition("<event>")
    events = rest.split("<event>")[:n]
    return (
        head
        + "".join("<event>" + e for e in events).split("</LesHouchesEvents>")[0].rstrip()
        + "\n</LesHouchesEvents>\n"
    )


def test_missing_and_not_lhe(tmp_path):
    with pytest.raises(LheFormatError, match="no such file"):
        LheReader(tmp_path / "nope.lhe")
    with pytest.raises(LheFormatError, match="not a Les Houches"):
        LheReader(_write(tmp_path, "x.lhe", "hello\nworld\n"))
    with pytest.raises(LheFormatError, match="not a regular file"):
        LheReader(tmp_path)


def test_truncated_file_is_an_error_not_a_short_read(tmp_path, example_text):
    cut = example_text[: len(example_text) // 2]
    path = _write(tmp_path, "cut.lhe.gz", cut, compress=True)
    reader = LheReader(path)
    with pytest.raises(LheFormatError, match="truncated or malformed after"):
        for _ in reader.batches(100):
            pass


def test_corrupt_gzip(tmp_path, example_lo_path):
    data = bytearray(example_lo_path.read_bytes())
    data[5000:5100] = bytes(100)
    path = tmp_path / "bad.lhe.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(LheFormatError):
        LheReader(path).read_all()
    (tmp_path / "short.lhe.gz").write_bytes(example_lo_path.read_bytes()[:20])
    with pytest.raises(LheFormatError):
        LheReader(tmp_path / "short.lhe.gz").read_all()


def test_event_without_dileptonic_final_state_reported_and_skippable(tmp_path, example_text):
    text = _first_events(example_text, 5)
    events = text.split("<event>")
    # third event: turn its mu- (pdg 13) into a d quark
    events[3] = (
        events[3].replace("\n      13     1", "\n       1     1").replace("\n     -13     1", "\n       1     1")
    )
    path = _write(tmp_path, "bad.lhe", "<event>".join(events))
    with pytest.raises(EventContentError, match="event 2: no dileptonic final state"):
        LheReader(path).read_all()
    reader = LheReader(path, skip_invalid=True)
    batch = reader.read_all()
    assert len(batch) == 4 and reader.n_read == 5
    assert [i for i, _ in reader.skipped] == [2]
    assert batch.index.tolist() == [0, 1, 3, 4]


def test_non_finite_momenta(tmp_path, example_text):
    text = _first_events(example_text, 3)
    events = text.split("<event>")
    lines = events[2].split("\n")
    fields = lines[7].split()
    fields[6] = "nan"
    lines[7] = " ".join(fields)
    events[2] = "\n".join(lines)
    path = _write(tmp_path, "nan.lhe", "<event>".join(events))
    with pytest.raises(EventContentError, match="event 1: non-finite"):
        LheReader(path).read_all()
    reader = LheReader(path, skip_invalid=True)
    assert len(reader.read_all()) == 2 and reader.skipped_reasons["non-finite (NaN or inf) momentum or mass"] == 1


def test_batches_stop_after_max_events(example_lo_path):
    reader = LheReader(example_lo_path)
    sizes = [len(b) for b in reader.batches(300, max_events=700)]
    assert sizes == [300, 300, 100] and reader.n_read == 700
    first = list(LheReader(example_lo_path).batches(300, max_events=700))
    full = LheReader(example_lo_path).read_all()
    np.testing.assert_array_equal(np.concatenate([b.momenta for b in first]), full.momenta[:700])
    assert [len(b) for b in LheReader(example_lo_path).batches(400, max_events=5000)] == [400, 400, 200]
    assert list(LheReader(example_lo_path).batches(10, max_events=0)) == []


def test_event_with_different_named_weights_is_skipped_whole(tmp_path, example_text):
    text = _first_events(example_text, 4)
    events = text.split("<event>")
    rwgt = "<rwgt>\n<wgt id='a'> 1.5 </wgt>\n</rwgt>\n</event>"
    events[1:] = [e.replace("</event>", rwgt) for e in events[1:]]
    events[2] = events[2].replace("<wgt id='a'>", "<wgt id='b'>")
    path = _write(tmp_path, "weights.lhe", "<event>".join(events))
    with pytest.raises(EventContentError, match="event 1: its named weights differ"):
        LheReader(path).read_all()
    reader = LheReader(path, skip_invalid=True)
    batch = reader.read_all()
    assert batch.index.tolist() == [0, 2, 3] and list(batch.named_weights) == ["a"]
    assert batch.named_weights["a"].tolist() == [1.5, 1.5, 1.5]
    assert len(batch.momenta) == len(batch.weight) == len(batch.extras) == 3


def test_invalid_event_is_reported_before_a_later_truncation(tmp_path, example_text):
    text = _first_events(example_text, 4)
    events = text.split("<event>")
    events[1] = (
        events[1].replace("\n      13     1", "\n       1     1").replace("\n     -13     1", "\n       1     1")
    )
    truncated = "<event>".join(events)[: text.rindex("<event>") + 100]
    path = _write(tmp_path, "bad_then_truncated.lhe", truncated)
    with pytest.raises(EventContentError, match="event 0: no dileptonic final state"):
        LheReader(path).read_all()
    with pytest.raises(LheFormatError):
        LheReader(path, skip_invalid=True).read_all()
