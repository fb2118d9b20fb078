"""Streaming reader for dileptonic top-pair Les Houches event files (POWHEG hvq, bb4l-like).

Events are parsed with pylhe and returned in columnar chunks (:class:`EventBatch`).
The text before ``<init>`` and the ``<init>`` block are kept verbatim so that a
writer can reproduce them. Decay products are found through mother pointers
(t -> b W+, W+ -> l+ nu and charge conjugate), which is robust against extra b
quarks from radiation; files without resonance entries fall back to PDG ids.
"""

from __future__ import annotations

import gzip
import html
import json
import math
import os
import re
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import pylhe

from ..constants import CHARGED_LEPTONS, NEUTRINOS, PDG_B, PDG_TOP, PDG_W
from ..errors import EventContentError, LheFormatError
from .events import EventBatch, extras_array

_MAX_PREAMBLE_BYTES = 64 * 1024 * 1024
_DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error)


@dataclass
class LheHeader:
    """Everything before the first event, kept verbatim, plus the parsed ``<init>`` numbers."""

    root_tag: str  # e.g. '<LesHouchesEvents version="3.0">'
    preamble: str  # text between the root tag and <init> (comments, <header> block)
    init_block: str  # '<init>' ... '</init>' inclusive
    beam_energies: tuple[float, float]
    beam_ids: tuple[int, int]
    cross_sections: list[tuple[float, float, int]]  # (XSECUP, XERRUP, LPRUP) per process
    weight_ids: list[str] = field(default_factory=list)  # ids declared in <initrwgt>

    @property
    def total_cross_section(self) -> tuple[float, float]:
        """Sum of XSECUP over processes (pb) and its error added in quadrature."""
        total = sum(x for x, _, _ in self.cross_sections)
        error = math.sqrt(sum(e * e for _, e, _ in self.cross_sections))
        return total, error

    @property
    def lhe_didi_provenance(self) -> list[dict]:
        """The ``<lhe_didi>`` provenance blocks written by earlier lhe-didi steps, oldest first."""
        blocks = re.findall(r"<lhe_didi>(.*?)</lhe_didi>", self.preamble, flags=re.DOTALL)
        out = []
        for block in blocks:
            try:
                out.append(json.loads(html.unescape(block)))
            except json.JSONDecodeError:
                continue  # a foreign or damaged block is not ours to interpret
        return out

    @property
    def didi_model_hash(self) -> str | None:
        """Content hash of the DiDi model that produced these events (latest ``transform`` block), else None."""
        transforms = [b for b in self.lhe_didi_provenance if b.get("command") == "transform" and "model" in b]
        return transforms[-1]["model"].get("content_hash") if transforms else None


def _open_text(path: Path):
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _read_preamble(path: Path) -> tuple[str, str, str]:
    """Return (root tag, preamble, init block) read as raw text."""
    chunks: list[str] = []
    size = 0
    try:
        with _open_text(path) as stream:
            for line in stream:
                chunks.append(line)
                size += len(line)
                if "</init>" in line or "<event" in line or size > _MAX_PREAMBLE_BYTES:
                    break
    except _DECOMPRESSION_ERRORS as exc:
        raise LheFormatError(f"{path}: cannot decompress ({exc})") from None
    text = "".join(chunks)
    root = re.search(r"<LesHouchesEvents\b[^>]*>", text)
    if root is None:
        raise LheFormatError(f"{path}: not a Les Houches event file (no <LesHouchesEvents> element)")
    init = re.compile(r"<init[\s>]").search(text, root.end())
    init_start = init.start() if init else -1
    init_end = text.find("</init>", init_start)
    if init is None or init_end < 0:
        raise LheFormatError(f"{path}: no complete <init> block before the first event")
    init_end += len("</init>")
    return root.group(0), text[root.end() : init_start], text[init_start:init_end]


def _identify(particles: list[pylhe.LHEParticle], event_index: int):
    """Return (incoming, final six, resonances, extras) as lists of 1-based record indices."""
    incoming = [i for i, p in enumerate(particles, 1) if p.status == -1]
    if len(incoming) != 2:
        raise EventContentError(event_index, f"{len(incoming)} incoming partons (status -1), expected 2")

    def unique(predicate, what):
        found = [i for i, p in enumerate(particles, 1) if predicate(p)]
        if len(found) != 1:
            raise EventContentError(
                event_index, f"no dileptonic final state (b l+ nu b~ l- nu~): {len(found)} candidates for {what}"
            )
        return found[0]

    resonances = {}
    for name, pid in (("t", PDG_TOP), ("t~", -PDG_TOP), ("W+", PDG_W), ("W-", -PDG_W)):
        found = [i for i, p in enumerate(particles, 1) if p.status == 2 and p.id == pid]
        resonances[name] = found[0] if len(found) == 1 else None

    def from_mother(mother_name):
        mother = resonances[mother_name]
        if mother is None:
            return lambda p: True
        return lambda p: p.mother1 == mother

    def is_final(p):
        return p.status == 1

    b = unique(lambda p: is_final(p) and p.id == PDG_B and from_mother("t")(p), "b")
    bbar = unique(lambda p: is_final(p) and p.id == -PDG_B and from_mother("t~")(p), "b~")
    lplus = unique(lambda p: is_final(p) and -p.id in CHARGED_LEPTONS and from_mother("W+")(p), "l+")
    nu = unique(lambda p: is_final(p) and p.id in NEUTRINOS and from_mother("W+")(p), "nu")
    lminus = unique(lambda p: is_final(p) and p.id in CHARGED_LEPTONS and from_mother("W-")(p), "l-")
    nubar = unique(lambda p: is_final(p) and -p.id in NEUTRINOS and from_mother("W-")(p), "nu~")
    six = [b, lplus, nu, bbar, lminus, nubar]
    taken = set(six)
    extras = [i for i, p in enumerate(particles, 1) if p.status == 1 and i not in taken]
    return incoming, six, resonances, extras


SOURCE_EVENT_TAG = "#lhe-didi source-event"


def _source_index(event: pylhe.LHEEvent) -> int:
    """Input-event index recorded by ``lhe-didi transform`` in an event comment line, -1 if none."""
    for line in event.optional:
        if line.startswith(SOURCE_EVENT_TAG):
            try:
                return int(line[len(SOURCE_EVENT_TAG):])
            except ValueError:
                return -1
    return -1


class _BatchBuilder:
    """Accumulates identified events as Python lists, then freezes them into an EventBatch."""

    def __init__(self, weight_ids: list[str] | None):
        self.rows: dict[str, list] = {k: [] for k in EventBatch.__dataclass_fields__ if k != "named_weights"}
        self.weight_ids = weight_ids
        self.named_weights: dict[str, list[float]] = {}

    def __len__(self):
        return len(self.rows["index"])

    def add(self, event_index: int, event: pylhe.LHEEvent):
        particles = event.particles
        info = event.eventinfo
        if len(particles) != info.nparticles:
            raise EventContentError(event_index, f"NUP={info.nparticles} but {len(particles)} particle lines")
        incoming, six, resonances, extras = _identify(particles, event_index)
        for p in particles:
            if not all(math.isfinite(v) for v in (p.e, p.px, p.py, p.pz, p.m)):
                raise EventContentError(event_index, "non-finite (NaN or inf) momentum or mass")
        if not all(math.isfinite(v) for v in (info.weight, info.scale)):
            raise EventContentError(event_index, "non-finite event weight or scale")

        def four(i):
            p = particles[i - 1]
            return (p.e, p.px, p.py, p.pz)

        role_of = {incoming[0]: 1, incoming[1]: 2}
        for role, name in enumerate(("t", "t~", "W+", "W-"), start=3):
            if resonances[name] is not None:
                role_of[resonances[name]] = role

        r = self.rows
        r["index"].append(event_index)
        r["momenta"].append([four(i) for i in six])
        r["masses"].append([particles[i - 1].m for i in six])
        r["pdg"].append([particles[i - 1].id for i in six])
        r["colours"].append([(particles[i - 1].color1, particles[i - 1].color2) for i in six])
        r["incoming_pdg"].append([particles[i - 1].id for i in incoming])
        r["incoming_colours"].append([(particles[i - 1].color1, particles[i - 1].color2) for i in incoming])
        r["incoming_momenta"].append([four(i) for i in incoming])
        # Without resonance entries a top inherits the colour of its b quark.
        r["resonance_colours"].append(
            [
                (particles[i - 1].color1, particles[i - 1].color2) if i is not None else fallback
                for i, fallback in zip(
                    (resonances["t"], resonances["t~"], resonances["W+"], resonances["W-"]),
                    (r["colours"][-1][0], r["colours"][-1][3], (0, 0), (0, 0)),
                )
            ]
        )
        r["extras"].append(
            [
                {
                    "pdg": particles[i - 1].id,
                    "colour1": particles[i - 1].color1,
                    "colour2": particles[i - 1].color2,
                    "E": particles[i - 1].e,
                    "px": particles[i - 1].px,
                    "py": particles[i - 1].py,
                    "pz": particles[i - 1].pz,
                    "mass": particles[i - 1].m,
                    "mother1": role_of.get(particles[i - 1].mother1, 0),
                    "mother2": role_of.get(particles[i - 1].mother2, 0),
                }
                for i in extras
            ]
        )
        r["process_id"].append(info.pid)
        r["weight"].append(info.weight)
        r["scale"].append(info.scale)
        r["aqed"].append(info.aqed)
        r["aqcd"].append(info.aqcd)
        r["source_index"].append(_source_index(event))
        if len(self) == 1:
            self.named_weights = {k: [] for k in event.weights}
        if set(event.weights) != set(self.named_weights):
            raise EventContentError(event_index, "its named weights differ from those of the preceding events")
        for k, v in event.weights.items():
            self.named_weights[k].append(v)

    def build(self) -> EventBatch:
        r = self.rows
        n = len(self)
        return EventBatch(
            index=np.asarray(r["index"], dtype=np.int64),
            momenta=np.asarray(r["momenta"], dtype=np.float64).reshape(n, 6, 4),
            masses=np.asarray(r["masses"], dtype=np.float64).reshape(n, 6),
            pdg=np.asarray(r["pdg"], dtype=np.int64).reshape(n, 6),
            colours=np.asarray(r["colours"], dtype=np.int64).reshape(n, 6, 2),
            incoming_pdg=np.asarray(r["incoming_pdg"], dtype=np.int64).reshape(n, 2),
            incoming_colours=np.asarray(r["incoming_colours"], dtype=np.int64).reshape(n, 2, 2),
            incoming_momenta=np.asarray(r["incoming_momenta"], dtype=np.float64).reshape(n, 2, 4),
            resonance_colours=np.asarray(r["resonance_colours"], dtype=np.int64).reshape(n, 4, 2),
            extras=extras_array(r["extras"]),
            process_id=np.asarray(r["process_id"], dtype=np.int64),
            weight=np.asarray(r["weight"], dtype=np.float64),
            scale=np.asarray(r["scale"], dtype=np.float64),
            aqed=np.asarray(r["aqed"], dtype=np.float64),
            aqcd=np.asarray(r["aqcd"], dtype=np.float64),
            source_index=np.asarray(r["source_index"], dtype=np.int64),
            named_weights={k: np.asarray(v, dtype=np.float64) for k, v in self.named_weights.items()},
        )


class LheReader:
    """Read a dileptonic top-pair LHE file (``.lhe`` or ``.lhe.gz``) in chunks.

    ``skip_invalid=True`` skips events without the dileptonic final state or with
    non-finite momenta instead of failing; :attr:`skipped` then lists
    ``(event index, reason)`` and :attr:`n_read` counts events read.
    """

    def __init__(self, path: str | os.PathLike, *, skip_invalid: bool = False):
        self.path = Path(path)
        if not self.path.exists():
            raise LheFormatError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise LheFormatError(f"{self.path}: not a regular file")
        self.skip_invalid = skip_invalid
        self.skipped: list[tuple[int, str]] = []
        self.n_read = 0
        root_tag, preamble, init_block = _read_preamble(self.path)
        lhefile = self._open_pylhe()
        init = lhefile.init
        info = init.initInfo
        weight_ids = []
        if lhefile.header is not None and lhefile.header.initrwgt is not None:
            weight_ids = lhefile.header.initrwgt.list_weights_ids()
        self.header = LheHeader(
            root_tag=root_tag,
            preamble=preamble,
            init_block=init_block,
            beam_energies=(float(info.energyA), float(info.energyB)),
            beam_ids=(int(info.beamA), int(info.beamB)),
            cross_sections=[(float(p.xSection), float(p.error), int(p.procId)) for p in init.procInfo],
            weight_ids=weight_ids,
        )

    def _open_pylhe(self):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                return pylhe.LHEFile.fromfile(self.path)
        except (ValueError, RuntimeWarning, IndexError) as exc:
            raise LheFormatError(f"{self.path}: malformed LHE header or <init> block ({exc})") from None
        except _DECOMPRESSION_ERRORS as exc:
            raise LheFormatError(f"{self.path}: cannot decompress ({exc})") from None

    @property
    def skipped_reasons(self) -> Counter:
        """How many events were skipped for each reason."""
        return Counter(reason for _, reason in self.skipped)

    def batches(self, batch_size: int = 10_000, max_events: int | None = None) -> Iterator[EventBatch]:
        """Yield the file's events in chunks of at most ``batch_size``; stop after ``max_events`` events (None: all)."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        events = iter(self._open_pylhe().events)
        builder = _BatchBuilder(self.header.weight_ids)
        remaining = math.inf if max_events is None else max_events
        finished = remaining <= 0
        while not finished:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                while len(builder) < min(batch_size, remaining):
                    try:
                        event = next(events)
                    except StopIteration:
                        finished = True
                        break
                    except RuntimeWarning as exc:
                        raise LheFormatError(
                            f"{self.path}: truncated or malformed after {self.n_read} events ({exc})"
                        ) from None
                    except (ValueError, IndexError) as exc:
                        raise LheFormatError(f"{self.path}: event {self.n_read}: malformed record ({exc})") from None
                    except _DECOMPRESSION_ERRORS as exc:
                        raise LheFormatError(
                            f"{self.path}: cannot decompress after {self.n_read} events ({exc})"
                        ) from None
                    index = self.n_read
                    self.n_read += 1
                    try:
                        builder.add(index, event)
                    except EventContentError as exc:
                        if not self.skip_invalid:
                            raise
                        self.skipped.append((index, exc.reason))
            remaining -= len(builder)
            finished = finished or remaining <= 0
            if len(builder):
                yield builder.build()
                builder = _BatchBuilder(self.header.weight_ids)

    def read_all(self) -> EventBatch:
        """Read every event into one batch (small files and tests)."""
        batches = list(self.batches())
        if not batches:
            return _BatchBuilder(self.header.weight_ids).build()
        return concatenate(batches)


def concatenate(batches: list[EventBatch]) -> EventBatch:
    """Join batches in order."""
    first = batches[0]
    fields = {}
    for name in EventBatch.__dataclass_fields__:
        values = [getattr(b, name) for b in batches]
        if name == "extras":
            fields[name] = ak.concatenate(values)
        elif name == "named_weights":
            fields[name] = {k: np.concatenate([v[k] for v in values]) for k in first.named_weights}
        else:
            fields[name] = np.concatenate(values)
    return EventBatch(**fields)
