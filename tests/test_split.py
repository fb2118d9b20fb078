"""Pieces of an LHE file: the input's bytes, readable on their own, events numbered as in the whole file."""

import gzip

import numpy as np
import pytest

from lhe_didi.errors import LheFormatError
from lhe_didi.io import split
from lhe_didi.io.reader import LheReader
from lhe_didi.io.split import split_events

END = b"</LesHouchesEvents>\n"


@pytest.fixture
def plain(tmp_path, example_lo_path):
    """The 1 000-event example as plain text, with the POWHEG random-number line after the end tag."""
    path = tmp_path / "plain.lhe"
    path.write_bytes(gzip.open(example_lo_path).read())
    return path


def whole_file(pieces, header: bytes) -> bytes:
    texts = [p.path.read_bytes() for p in pieces]
    assert all(t.startswith(header) for t in texts) and all(t.endswith(END) for t in texts[:-1])
    return header + b"".join(t[len(header) : -len(END)] for t in texts[:-1]) + texts[-1][len(header) :]


@pytest.mark.parametrize("read_size", [1 << 22, 97])  # 97 bytes: event tags cut by every read
def test_the_pieces_are_the_file_cut_at_event_tags(tmp_path, plain, example_lo_path, read_size, monkeypatch):
    monkeypatch.setattr(split, "_READ_SIZE", read_size)
    original = plain.read_bytes()
    header = original[: original.index(b"<event>")]
    for source in (plain, example_lo_path):
        folder = tmp_path / f"{source.name}-{read_size}"
        folder.mkdir()
        pieces = list(split_events(source, 300, folder))
        assert [(p.first, p.events, p.last) for p in pieces] == [(0, 300, False), (300, 300, False),
                                                                 (600, 300, False), (900, 100, True)]  # fmt: skip
        assert whole_file(pieces, header) == original
        assert [p.path.read_bytes().count(b"<event>") for p in pieces] == [300, 300, 300, 100]


def test_a_piece_reads_as_those_events_of_the_whole_file(tmp_path, plain):
    folder = tmp_path / "pieces"
    folder.mkdir()
    pieces = list(split_events(plain, 400, folder, keep_first=False))  # the first 400 are passed over
    assert [(p.first, p.events, p.last) for p in pieces] == [(400, 400, False), (800, 200, True)]
    assert sorted(p.name for p in folder.iterdir()) == [p.path.name for p in pieces]
    whole = next(LheReader(plain).batches(1000))
    for piece in pieces:
        reader = LheReader(piece.path, first_index=piece.first, name="the whole file")
        assert reader.header == LheReader(plain).header
        batch = next(reader.batches(1000))
        rows = slice(piece.first, piece.first + piece.events)
        assert np.array_equal(batch.index, whole.index[rows])
        assert np.array_equal(batch.momenta, whole.momenta[rows])


def test_a_file_of_one_piece_leaves_nothing_to_cut(tmp_path, plain):
    assert list(split_events(plain, 1000, tmp_path, keep_first=False)) == []
    assert [p.events for p in split_events(plain, 1000, tmp_path)] == [1000]


def test_a_damaged_file_is_named_with_the_events_before_the_damage(tmp_path, example_lo_path):
    cut = tmp_path / "cut.lhe.gz"
    data = example_lo_path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(LheFormatError, match=r"cut.lhe.gz: cannot decompress after \d+ events"):
        list(split_events(cut, 100, tmp_path, keep_first=False))


def test_a_piece_ending_inside_an_event_is_reported_under_the_file_name(tmp_path, plain):
    text = plain.read_bytes()
    truncated = tmp_path / "truncated.lhe"
    truncated.write_bytes(text[: int(len(text) * 0.7)])
    folder = tmp_path / "pieces"
    folder.mkdir()
    last = list(split_events(truncated, 300, folder))[-1]
    reader = LheReader(last.path, first_index=last.first, name=str(truncated))
    with pytest.raises(LheFormatError, match=r"truncated.lhe: truncated or malformed after \d+ events"):
        list(reader.batches(1000))
