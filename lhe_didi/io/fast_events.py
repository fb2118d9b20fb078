"""A fast parser for the event blocks of plain LHE files; pylhe stays the reader of record.

pylhe builds an XML element and a Python object per particle; this parser cuts the text into ``<event>``
blocks and converts all numbers of a chunk with one call of numpy's C parser (``numpy.loadtxt``), about twice
as fast end to end (docs/benchmarks.md). It gives what pylhe gives (``tests/test_fast_reader.py`` compares
them event by event): the text before an event's first sub-element holds the event line, particle lines and
``#`` comment lines; named weights come from ``<rwgt>``'s ``<wgt id=...>`` entries. Anything else — other
sub-elements, XML comments or entities inside an event, blank lines, lines numpy cannot read, a file that
ends inside an event — raises :class:`Unusual`, and the reader hands the file to pylhe from that event on, so
unusual and broken files get pylhe's treatment and error messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

_READ_SIZE = 1 << 22  # characters of decompressed text per read
_ALLOWED_TAGS = {"rwgt", "wgt", "scales"}
_TAG = re.compile(r"<\s*/?\s*([^\s>/]*)")
_WEIGHT = re.compile(r"""<wgt\s+id\s*=\s*(['"])(.*?)\1\s*>([^<]*)</wgt>""")
_EVENT_START = re.compile(r"<event[\s>]")
PARTICLE_FIELDS = 13  # IDUP ISTUP MOTHUP(2) ICOLUP(2) PUP(5) VTIMUP SPINUP
INFO_FIELDS = 6  # NUP IDPRUP XWGTUP SCALUP AQEDUP AQCDUP


class Unusual(Exception):
    """An event (or the end of the file) the fast parser does not handle; pylhe takes over there."""


@dataclass
class ParsedChunk:
    """The events of one chunk as text pieces, converted to arrays by :meth:`arrays`."""

    info_lines: list[str] = field(default_factory=list)
    particle_lines: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # particle lines per event
    optional: list[list[str]] = field(default_factory=list)  # stripped '#' lines per event
    weights: list[dict[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.info_lines)

    def add(self, body: str) -> None:
        """Parse one event's body (the text between ``<event ...>`` and ``</event>``); the chunk is unchanged
        when it raises :class:`Unusual`."""
        first_tag = body.find("<")
        text, elements = (body, "") if first_tag < 0 else (body[:first_tag], body[first_tag:])
        # comment lines usually follow the particle lines: cut them off in one piece
        hash_at = text.find("#")
        lines = (text if hash_at < 0 else text[:hash_at]).strip().split("\n")
        particles = lines[1:]
        comments = [] if hash_at < 0 else [line.strip() for line in text[hash_at:].strip().split("\n")]
        if not all(line.startswith("#") for line in comments):  # comments between particle lines
            every = text.strip().split("\n")[1:]
            comments = [line.strip() for line in every if line.lstrip().startswith("#")]
            particles = [line for line in every if not line.lstrip().startswith("#")]
        weights = {}
        if elements.strip():
            if "&" in elements or any(tag not in _ALLOWED_TAGS for tag in _TAG.findall(elements)):
                raise Unusual("an event sub-element other than <rwgt>/<wgt>/<scales>")
            for _, wid, value in _WEIGHT.findall(elements):
                weights[wid] = float(value)
        self.info_lines.append(lines[0])
        self.particle_lines.extend(particles)
        self.counts.append(len(particles))
        self.optional.append(comments)
        self.weights.append(weights)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(info (n, 6), particles (sum of counts, 13)) as float64."""
        info = _numbers(self.info_lines, INFO_FIELDS)
        particles = _numbers(self.particle_lines, PARTICLE_FIELDS)
        return info, particles


def _numbers(lines: list[str], per_line: int) -> np.ndarray:
    """All numbers of ``lines`` (each with exactly ``per_line`` of them) as an (n, per_line) array."""
    if not lines:
        return np.zeros((0, per_line))
    try:  # numpy's C parser; ragged lines or unreadable tokens raise
        values = np.loadtxt(lines, dtype=np.float64, ndmin=2, comments=None)
    except ValueError as exc:
        raise Unusual(str(exc)) from None
    if values.shape != (len(lines), per_line):  # loadtxt skips blank lines, which pylhe would not
        raise Unusual(f"{values.shape[0]} lines of {values.shape[1]} numbers, expected {len(lines)} of {per_line}")
    return values


def _last_event_tag(text: str) -> int:
    """Position of the last ``<event`` start tag (``<event>`` or ``<event attributes>``) in ``text``."""
    position = len(text)
    while (position := text.rfind("<event", 0, position)) >= 0:
        if text[position + 6 : position + 7] in (">", " ", "\t", "\n", "\r"):
            return position
    raise Unusual("</event> without an <event> tag")


def event_bodies(stream) -> Iterator[str]:
    """The body of every ``<event>`` of a text stream positioned anywhere before the first event."""
    buffer = ""
    while True:
        data = stream.read(_READ_SIZE)
        if not data:
            break
        buffer += data
        parts = buffer.split("</event>")
        buffer = parts.pop()
        for part in parts:
            yield part[part.find(">", _last_event_tag(part)) + 1 :]
    if _EVENT_START.search(buffer) or "</LesHouchesEvents>" not in buffer:
        raise Unusual("the file ends inside an event or without </LesHouchesEvents>")
