"""Cut an LHE file into pieces of consecutive events, byte for byte, without parsing them.

A piece is a plain-text LHE file: the input's text before its first ``<event`` (comments, header, ``<init>``), the
events' bytes exactly as in the input, and ``</LesHouchesEvents>`` (the last piece: the input's own ending).
:mod:`lhe_didi.cluster` hands pieces to workers, so that no worker decompresses and passes over the events before
its range, and nobody has to count the events first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import LheFormatError
from .reader import _DECOMPRESSION_ERRORS, open_decompressed

_EVENT_TAG = re.compile(rb"<event[ >]")
_READ_SIZE = 1 << 22
_END = b"</LesHouchesEvents>\n"


@dataclass
class Piece:
    """Events ``first`` .. ``first + events - 1`` of the input, in the LHE file ``path``; ``last``: it ends the
    input."""

    path: Path
    first: int
    events: int
    last: bool


def split_events(source: str | Path, events_per_piece: int, directory: Path, *, keep_first: bool = True
                 ) -> Iterator[Piece]:  # fmt: skip
    """Write the pieces of ``source`` of ``events_per_piece`` events each into ``directory`` and yield each as soon
    as it is complete. ``keep_first=False``: the first piece's events are passed over, not written (its range is
    read from ``source`` itself); the pieces after it are still numbered from the file's first event. A file with
    no more events than that yields nothing then."""
    if events_per_piece < 1:
        raise ValueError("events_per_piece must be positive")
    count = 0
    try:
        with open_decompressed(source) as stream:
            buffer, header = b"", None
            while header is None:
                data = stream.read(_READ_SIZE)
                buffer += data
                tag = _EVENT_TAG.search(buffer)
                if tag is not None:
                    header, buffer = buffer[: tag.start()], buffer[tag.start() :]
                elif not data:
                    return
            piece = _PieceWriter(directory, header, 0, write=keep_first)
            searched = 0  # tags before this position of buffer are counted
            while True:
                for tag in _EVENT_TAG.finditer(buffer, searched):
                    if count and count % events_per_piece == 0:  # this event opens the next piece
                        piece.write(buffer[: tag.start()])
                        buffer = buffer[tag.start() :]
                        done = piece.close(_END, events_per_piece)
                        if done is not None:
                            yield done
                        piece = _PieceWriter(directory, header, count)
                        break
                    count += 1
                else:
                    keep = min(len(buffer), 6)  # shorter than a tag: one across the boundary is found once, none twice
                    piece.write(buffer[: len(buffer) - keep])
                    buffer = buffer[len(buffer) - keep :]
                    data = stream.read(_READ_SIZE)
                    if not data:
                        break
                    buffer += data
                    searched = 0
                    continue
                count += 1  # the tag that opened the new piece
                searched = tag.end() - tag.start()
            piece.write(buffer)
            done = piece.close(b"", count - piece.first, last=True)
            if done is not None:
                yield done
    except _DECOMPRESSION_ERRORS as exc:
        raise LheFormatError(f"{source}: cannot decompress after {count} events ({exc})") from None


class _PieceWriter:
    """One piece being written: the input's header, then events, then an ending."""

    def __init__(self, directory: Path, header: bytes, first: int, write: bool = True):
        self.first = first
        self.path = directory / f"piece-{first:012d}.lhe" if write else None
        self._file = open(self.path, "wb") if write else None  # noqa: SIM115 - closed by close()
        if self._file is not None:
            self._file.write(header)

    def write(self, data: bytes) -> None:
        if self._file is not None:
            self._file.write(data)

    def close(self, ending: bytes, events: int, last: bool = False) -> Piece | None:
        if self._file is None:
            return None
        self._file.write(ending)
        self._file.close()
        return Piece(self.path, self.first, events, last)
