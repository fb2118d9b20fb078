"""The fast event parser (lhe_didi/io/fast_events.py) against pylhe, the reader of record, event by event."""

import gzip

import awkward as ak
import numpy as np
import pytest
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.errors import LheDidiError
from lhe_didi.io.events import EventBatch
from lhe_didi.io.reader import LheReader


def read(path, parser, **options):
    reader = LheReader(path, parser=parser, **options)
    batches = list(reader.batches(700))  # several chunks, the last one short
    return reader, batches


def assert_same_events(path, **options):
    """Every field of every event identical from both parsers, chunk by chunk, with the same skipped events."""
    fast_reader, fast = read(path, "fast", **options)
    slow_reader, slow = read(path, "pylhe", **options)
    assert [len(b) for b in fast] == [len(b) for b in slow]
    assert fast_reader.n_read == slow_reader.n_read and fast_reader.skipped == slow_reader.skipped
    for a, b in zip(fast, slow, strict=True):
        for name in EventBatch.__dataclass_fields__:
            x, y = getattr(a, name), getattr(b, name)
            if name == "extras":
                assert ak.to_list(x) == ak.to_list(y)
            elif name == "named_weights":
                assert list(x) == list(y)
                for key in x:
                    np.testing.assert_array_equal(x[key], y[key])
            else:
                np.testing.assert_array_equal(x, y, err_msg=name)
    return fast


def test_real_hvq_files_read_identically(hvq_nlo_path, hvq_nnpdf_slice_path, example_lo_path):
    nlo = assert_same_events(hvq_nlo_path)  # extra partons, negative weights, '#rwgt' lines
    assert sum(int((b.n_extras > 0).sum()) for b in nlo) > 1000
    assert_same_events(hvq_nnpdf_slice_path)
    assert_same_events(example_lo_path)


def test_full_real_hvq_sample_reads_identically(hvq_nlo_full_path):
    assert_same_events(hvq_nlo_full_path)


def test_lhe_didi_outputs_read_identically(tmp_path, example_lo_path):
    out = tmp_path / "offshell.lhe.gz"
    result = CliRunner().invoke(main, ["transform", str(example_lo_path), "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    batches = assert_same_events(out)  # <rwgt> classifier weights, source-event lines, single-top records
    assert "didi_classifier" in batches[0].named_weights
    assert any(np.any(b.history != 0) for b in batches)


def edited(tmp_path, example_lo_path, name, edit):
    text = gzip.open(example_lo_path, "rt").read()
    path = tmp_path / name
    path.write_text(edit(text))
    return path


def nth_event_end(text, n):
    position = -1
    for _ in range(n):
        position = text.index("</event>", position + 1)
    return position


@pytest.mark.parametrize(
    "name, edit",
    [
        # an XML comment, another sub-element and a <weights> block in some events: pylhe reads from there on
        ("comment.lhe", lambda t: t[: nth_event_end(t, 5)] + "<!-- a note -->\n" + t[nth_event_end(t, 5) :]),
        # a comment line between particle lines (the fast parser's slower branch)
        ("between.lhe", lambda t: t.replace("\n      21    -1", "\n# a note\n      21    -1", 50)),
        ("scales.lhe", lambda t: t.replace("</event>", "<scales muf='91.2'>\n</scales>\n</event>", 3)),
        ("mgrwt.lhe", lambda t: t[: nth_event_end(t, 400)] + "<mgrwt>\n</mgrwt>\n" + t[nth_event_end(t, 400) :]),
        # a Fortran-style exponent numpy cannot read, inside the second chunk
        (
            "fortran.lhe",
            lambda t: t[: nth_event_end(t, 900)].rsplit("E+00", 1)[0] + "D+00" + t[nth_event_end(t, 900) :],
        ),
    ],
)
def test_unusual_events_are_left_to_pylhe(tmp_path, example_lo_path, name, edit):
    path = edited(tmp_path, example_lo_path, name, edit)
    if name == "fortran.lhe":  # neither parser reads it: the same error as pylhe's
        with pytest.raises(LheDidiError) as fast_error:
            read(path, "fast")
        with pytest.raises(LheDidiError) as slow_error:
            read(path, "pylhe")
        assert str(fast_error.value) == str(slow_error.value)
        return
    assert sum(len(b) for b in assert_same_events(path)) == 1000


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_truncated_files_fail_as_with_pylhe(tmp_path, example_lo_path, cut):
    path = edited(tmp_path, example_lo_path, f"cut{cut}.lhe", lambda t: t[: int(cut * len(t))])
    errors = []
    for parser in ("fast", "pylhe"):
        with pytest.raises(LheDidiError) as error:
            read(path, parser)
        errors.append(str(error.value))
    assert errors[0] == errors[1] and "truncated" in errors[0]


def test_invalid_events_are_skipped_alike(tmp_path, example_lo_path):
    # an event without its l- (mu-, id 13 -> 22, a photon): skipped with the same reason by both
    def drop_lepton(text):
        end = nth_event_end(text, 10)
        start = text.rindex("<event>", 0, end)
        block = text[start:end].replace("\n      13 ", "\n      22 ", 1)
        return text[:start] + block + text[end:]

    path = edited(tmp_path, example_lo_path, "photon.lhe", drop_lepton)
    batches = assert_same_events(path, skip_invalid=True)
    assert sum(len(b) for b in batches) == 999


def test_environment_chooses_the_parser(monkeypatch, example_lo_path):
    monkeypatch.setenv("LHE_DIDI_READER", "pylhe")
    assert LheReader(example_lo_path).parser == "pylhe"
    monkeypatch.delenv("LHE_DIDI_READER")
    assert LheReader(example_lo_path).parser == "fast"
    with pytest.raises(ValueError):
        LheReader(example_lo_path, parser="other")


@pytest.mark.parametrize("parser", ["fast", "pylhe"])
def test_reading_from_an_event_keeps_the_whole_files_indices(example_lo_path, parser):
    """A range of a file (``start``) is the same events as the whole read, with the whole file's indices."""
    whole = LheReader(example_lo_path, parser=parser).read_all()
    batches = list(LheReader(example_lo_path, parser=parser).batches(250, max_events=400, start=500))
    assert [len(b) for b in batches] == [250, 150]
    np.testing.assert_array_equal(np.concatenate([b.index for b in batches]), np.arange(500, 900))
    np.testing.assert_array_equal(np.concatenate([b.momenta for b in batches]), whole.momenta[500:900])
    assert list(LheReader(example_lo_path, parser=parser).batches(250, start=5000)) == []
