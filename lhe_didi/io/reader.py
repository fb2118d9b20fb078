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
import io
import itertools
import json
import math
import operator
import os
import re
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import awkward as ak
import numpy as np
import pylhe

from ..constants import CHARGED_LEPTONS, NEUTRINOS, PDG_B, PDG_TOP, PDG_W
from ..errors import EventContentError, LheFormatError
from ..kinematics.histories import T_WMINUS, TBAR_WPLUS, TTBAR
from .events import EventBatch
from .fast_events import ParsedChunk, Unusual, event_bodies

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

    def _process_lines(self) -> tuple[list[str], int]:
        """Lines of the ``<init>`` block and the index of its beam line (the process lines follow it)."""
        lines = self.init_block.split("\n")
        beam = next(i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("<init"))
        return lines, beam

    @property
    def max_weights(self) -> list[float]:
        """XMAXUP of each process line of ``<init>``."""
        lines, beam = self._process_lines()
        return [float(lines[beam + 1 + k].split()[2]) for k in range(len(self.cross_sections))]

    def with_cross_sections(self, cross_sections: list[tuple[float, float, int]], max_weights: list[float]):
        """This header with ``<init>``'s process lines holding these (XSECUP, XERRUP, LPRUP) and XMAXUP."""
        lines, beam = self._process_lines()
        n = len(self.cross_sections)
        processes = [f" {x:.8e} {e:.8e} {w:.8e} {p}" for (x, e, p), w in zip(cross_sections, max_weights, strict=True)]
        init_block = "\n".join(lines[: beam + 1] + processes + lines[beam + 1 + n :])
        return replace(self, cross_sections=list(cross_sections), init_block=init_block)

    @property
    def lhe_didi_provenance(self) -> list[dict]:
        """The ``<lhe_didi>`` provenance blocks written by earlier lhe-didi steps, oldest first."""
        # a block is the tag followed by a JSON object: prose naming the tag (the generator's comment says
        # "Settings in <lhe_didi> below") is not the start of one
        blocks = re.findall(r"<lhe_didi>\s*(\{.*?\})\s*</lhe_didi>", self.preamble, flags=re.DOTALL)
        out = []
        for block in blocks:
            try:
                out.append(json.loads(html.unescape(block)))
            except json.JSONDecodeError:
                continue  # a foreign or damaged block is not ours to interpret
        return out

    @property
    def _latest_transform(self) -> dict | None:
        transforms = [b for b in self.lhe_didi_provenance if b.get("command") == "transform" and "model" in b]
        return transforms[-1] if transforms else None

    @property
    def didi_model_hash(self) -> str | None:
        """Content hash of the DiDi model that produced these events (latest ``transform`` block), else None."""
        latest = self._latest_transform
        return latest["model"].get("content_hash") if latest else None

    @property
    def didi_model_lineage(self) -> tuple[str, ...]:
        """:attr:`didi_model_hash`, then the hashes of the teachers that model was reflowed from; () if none."""
        latest = self._latest_transform
        if not latest or "content_hash" not in latest["model"]:
            return ()
        return (latest["model"]["content_hash"], *latest["model"].get("reflowed_from", ()))

    @property
    def didi_mirror_seed(self) -> int | None:
        """The ``--seed`` that chose the mirrored half when the latest ``transform`` ran with ``--beam-symmetrise``
        (:func:`lhe_didi.kinematics.symmetry.mirrored_events`), else None."""
        latest = self._latest_transform
        return int(latest["seed"]) if latest and latest.get("beam_symmetrised", False) else None

    @property
    def didi_top_mass(self) -> float | None:
        """The top mass a mass-conditional DiDi model was given by the latest ``transform``, else None."""
        latest = self._latest_transform
        condition = latest.get("condition") if latest else None
        return float(condition["top_mass"]) if condition else None

    @property
    def didi_beam_symmetrised(self) -> bool:
        """Whether the latest ``transform`` ran with ``--beam-symmetrise`` (:mod:`lhe_didi.kinematics.symmetry`)."""
        return self.didi_mirror_seed is not None


def open_decompressed(path: str | Path):
    """The file's bytes, decompressed if it is gzip (told by its first bytes, not its name)."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _open_text(path: Path):
    return io.TextIOWrapper(open_decompressed(path), encoding="utf-8", errors="replace")


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


SOURCE_EVENT_TAG = "#lhe-didi source-event"


def _source_index(comments: list[str]) -> int:
    """Input-event index recorded by ``lhe-didi transform`` in an event comment line, -1 if none."""
    for line in comments:
        if line.startswith(SOURCE_EVENT_TAG):
            try:
                return int(line[len(SOURCE_EVENT_TAG) :])
            except ValueError:
                return -1
    return -1


RADIATION_TAG = "#rwgt"


def _radiation_comment(comments: list[str]) -> str:
    """The event's POWHEG ``#rwgt`` comment line (radiation type, kinematic region, ...; read by the bb4l shower
    hooks from the first comment), '' if it has none."""
    for line in comments:
        if line.startswith(RADIATION_TAG):
            return line.rstrip()
    return ""


# Per particle, in this order: the record columns the builder keeps.
_COLUMNS = ("id", "status", "mother1", "mother2", "color1", "color2", "e", "px", "py", "pz", "m")
_ID, _STATUS, _MOTHER1, _MOTHER2, _COLOR1, _COLOR2, _E, _PX, _PY, _PZ, _M = range(len(_COLUMNS))
_PARTICLE_ROW = operator.attrgetter(*_COLUMNS)  # LHEParticle -> tuple in _COLUMNS order
# a particle line's 13 numbers (IDUP ISTUP MOTHUP1 MOTHUP2 ICOLUP1 ICOLUP2 PX PY PZ E M VTIMUP SPINUP) -> _COLUMNS
_FROM_LINE = [0, 1, 2, 3, 4, 5, 9, 6, 7, 8, 10]
_RESONANCES = (("t", PDG_TOP), ("t~", -PDG_TOP), ("W+", PDG_W), ("W-", -PDG_W))


def _histories(has_top: np.ndarray, has_topbar: np.ndarray) -> np.ndarray:
    """Resonance history from the tops a record has: t only -> t W-, t~ only -> t~ W+, else t t~ (also a record
    without resonance entries)."""
    history = np.full(len(has_top), TTBAR, dtype=np.int8)
    history[has_top & ~has_topbar] = T_WMINUS
    history[has_topbar & ~has_top] = TBAR_WPLUS
    return history


class _BatchBuilder:
    """Collects parsed events as flat particle rows; :meth:`build` identifies the decay products of
    all events at once (numpy) and freezes the valid ones into an EventBatch.

    Identification (per event): exactly two incoming partons (status -1); resonances t, t~, W+, W-
    are the status-2 entries with that id when there is exactly one; each of b, l+, nu, b~, l-, nu~
    must be the unique status-1 particle of its kind whose mother is its resonance (any mother when
    the resonance is absent; in a single-top record the first b~ or b of the hard process). Other
    status-1 particles are extras. Checks run in a fixed order and an event gets the reason of its
    first failing check.
    """

    def __init__(self):
        self.index: list[int] = []
        self.n_particles: list[int] = []
        self.particles: list[tuple] = []
        self.info: list[tuple] = []
        self.source_index: list[int] = []
        self.radiation_comment: list[str] = []
        self.weights: list[dict[str, float]] = []
        self.tables: list[np.ndarray] = []  # particle rows from the fast parser, in _COLUMNS order
        self.info_tables: list[np.ndarray] = []  # and their event lines

    def __len__(self):
        return len(self.index)

    def add(self, event_index: int, event: pylhe.LHEEvent) -> None:
        particles = event.particles
        info = event.eventinfo
        self.index.append(event_index)
        self.n_particles.append(len(particles))
        self.particles.extend(map(_PARTICLE_ROW, particles))
        self.info.append((info.nparticles, info.pid, info.weight, info.scale, info.aqed, info.aqcd))
        self.source_index.append(_source_index(event.optional))
        self.radiation_comment.append(_radiation_comment(event.optional))
        self.weights.append(event.weights)

    def add_parsed(self, first_index: int, chunk: ParsedChunk, info: np.ndarray, particles: np.ndarray) -> None:
        """Add the events of a chunk read by the fast parser (:mod:`.fast_events`), numbered from ``first_index``."""
        if self.particles:
            raise ValueError("a builder takes events from one parser")
        self.index.extend(range(first_index, first_index + len(chunk)))
        self.n_particles.extend(chunk.counts)
        self.tables.append(particles[:, _FROM_LINE])
        self.info_tables.append(info)
        for comments in chunk.optional:
            self.source_index.append(_source_index(comments))
            self.radiation_comment.append(_radiation_comment(comments))
        self.weights.extend(chunk.weights)

    def build(self, weight_keys: tuple[str, ...] | None) -> tuple[EventBatch, list[tuple[int, str]]]:
        """The batch of valid events and ``(event index, reason)`` for every invalid one, in file order.

        ``weight_keys``: the named weights every event must carry (None: those of the first valid event).
        """
        n = len(self)
        counts = np.asarray(self.n_particles, dtype=np.int64)
        # the fast parser's events come first; pylhe's, where it took over in this chunk, after them
        rows = np.asarray(self.particles, dtype=np.float64).reshape(-1, len(_COLUMNS))
        table = np.concatenate([*self.tables, rows]) if self.tables else rows
        event_of = np.repeat(np.arange(n), counts)
        record = np.arange(len(table)) - np.repeat(np.cumsum(counts) - counts, counts) + 1  # 1-based
        pid = table[:, _ID].astype(np.int64)
        status = table[:, _STATUS].astype(np.int64)
        mother1 = table[:, _MOTHER1].astype(np.int64)
        info = np.concatenate([*self.info_tables, np.asarray(self.info, dtype=np.float64).reshape(-1, 6)])
        reasons = np.full(n, None, dtype=object)

        def fail(bad: np.ndarray, reason) -> None:
            """Give ``reason`` (a string, or a function of the event number) to bad events without one."""
            for e in np.flatnonzero(bad & (reasons == None)):  # noqa: E711 (elementwise)
                reasons[e] = reason if isinstance(reason, str) else reason(e)

        def count_and_row(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Per event: how many particles match, and the row of the (last) match."""
            row = np.full(n, -1, dtype=np.int64)
            row[event_of[mask]] = np.flatnonzero(mask)
            return np.bincount(event_of[mask], minlength=n), row

        fail(info[:, 0] != counts, lambda e: f"NUP={int(info[e, 0])} but {counts[e]} particle lines")
        n_incoming, _ = count_and_row(status == -1)
        fail(n_incoming != 2, lambda e: f"{n_incoming[e]} incoming partons (status -1), expected 2")

        resonance_row = {}
        for name, code in _RESONANCES:
            found, row = count_and_row((status == 2) & (pid == code))
            resonance_row[name] = np.where(found == 1, row, -1)

        def from_mother(name: str) -> np.ndarray:
            row = resonance_row[name][event_of]
            return (row < 0) | (mother1 == record[np.maximum(row, 0)])

        final = status == 1
        roles = (
            ("b", (pid == PDG_B) & from_mother("t")),
            ("l+", np.isin(-pid, CHARGED_LEPTONS) & from_mother("W+")),
            ("nu", np.isin(pid, NEUTRINOS) & from_mother("W+")),
            ("b~", (pid == -PDG_B) & from_mother("t~")),
            ("l-", np.isin(pid, CHARGED_LEPTONS) & from_mother("W-")),
            ("nu~", np.isin(-pid, NEUTRINOS) & from_mother("W-")),
        )
        # single-top records (one top resonance): the b~ (b) of the hard process is the first status-1 one, a
        # radiated one follows it (the writer's layouts, and POWHEG's, put radiation after the hard process)
        has_top, has_topbar = resonance_row["t"] >= 0, resonance_row["t~"] >= 0
        first_of = {0: has_topbar & ~has_top, 3: has_top & ~has_topbar}
        six = np.empty((n, 6), dtype=np.int64)
        check_order = (0, 3, 1, 2, 4, 5)  # b, b~, l+, nu, l-, nu~ as reported
        for slot in check_order:
            what, mask = roles[slot]
            found, six[:, slot] = count_and_row(final & mask)
            if slot in first_of:
                single_top = first_of[slot]
                first = np.full(n, -1, dtype=np.int64)
                rows = np.flatnonzero(final & mask)[::-1]
                first[event_of[rows]] = rows  # the last assignment wins: the first match in record order
                six[single_top, slot] = first[single_top]
                found = np.where(single_top, np.minimum(found, 1), found)
            fail(
                found != 1,
                lambda e, what=what, found=found: (
                    f"no dileptonic final state (b l+ nu b~ l- nu~): {found[e]} candidates for {what}"
                ),
            )
        finite = np.isfinite(table[:, _E:]).all(axis=1)
        fail(np.bincount(event_of[~finite], minlength=n) > 0, "non-finite (NaN or inf) momentum or mass")
        fail(~np.isfinite(info[:, 2:4]).all(axis=1), "non-finite event weight or scale")
        if weight_keys is None:
            valid = np.flatnonzero(reasons == None)  # noqa: E711
            weight_keys = tuple(self.weights[valid[0]]) if len(valid) else ()
        fail(
            np.array([set(w) != set(weight_keys) for w in self.weights], dtype=bool),
            "its named weights differ from those of the preceding events",
        )

        good = reasons == None  # noqa: E711
        invalid = [(self.index[e], reasons[e]) for e in np.flatnonzero(~good)]
        return self._freeze(good, table, event_of, record, six, resonance_row, info, weight_keys), invalid

    def _freeze(self, good, table, event_of, record, six, resonance_row, info, weight_keys) -> EventBatch:
        n_good = int(good.sum())
        keep = good[event_of]
        status = table[:, _STATUS].astype(np.int64)
        incoming = np.flatnonzero(keep & (status == -1)).reshape(n_good, 2)
        six = six[good]
        taken = np.zeros(len(table), dtype=bool)
        taken[six.ravel()] = True
        extras = np.flatnonzero(keep & (status == 1) & ~taken)

        colours = table[:, [_COLOR1, _COLOR2]].astype(np.int64)
        momenta = table[:, [_E, _PX, _PY, _PZ]]
        resonance = np.stack([resonance_row[name][good] for name, _ in _RESONANCES], axis=1)  # (n, 4), -1: absent
        fallback = np.zeros((n_good, 4, 2), dtype=np.int64)  # without resonance entries a top takes its b's colour
        fallback[:, 0], fallback[:, 1] = colours[six[:, 0]], colours[six[:, 3]]
        resonance_colours = np.where((resonance >= 0)[:, :, None], colours[np.maximum(resonance, 0)], fallback)

        # extra partons: mother pointers as roles (1, 2 incoming; 3-6 t, t~, W+, W-; 0 other)
        position = np.cumsum(good) - 1
        owner = position[event_of[extras]]
        role_records = np.concatenate([incoming, resonance], axis=1)  # rows; -1 where absent
        role_records = np.where(role_records >= 0, record[np.maximum(role_records, 0)], -1)
        mothers = []
        for column in (_MOTHER1, _MOTHER2):
            pointer = table[extras, column].astype(np.int64)
            matches = role_records[owner] == pointer[:, None]
            mothers.append(np.where(matches.any(axis=1), matches.argmax(axis=1) + 1, 0))
        extra_fields = {
            "pdg": table[extras, _ID].astype(np.int64),
            "colour1": colours[extras, 0],
            "colour2": colours[extras, 1],
            "E": table[extras, _E],
            "px": table[extras, _PX],
            "py": table[extras, _PY],
            "pz": table[extras, _PZ],
            "mass": table[extras, _M],
            "mother1": mothers[0],
            "mother2": mothers[1],
        }
        extras_per_event = np.bincount(owner, minlength=n_good)
        info = info[good]
        rows = np.flatnonzero(good)
        return EventBatch(
            index=np.asarray(self.index, dtype=np.int64)[good],
            momenta=momenta[six],
            masses=table[six, _M],
            pdg=table[six, _ID].astype(np.int64),
            colours=colours[six],
            incoming_pdg=table[incoming, _ID].astype(np.int64),
            incoming_colours=colours[incoming],
            incoming_momenta=momenta[incoming],
            resonance_colours=resonance_colours,
            extras=ak.unflatten(ak.zip(extra_fields), extras_per_event),
            process_id=info[:, 1].astype(np.int64),
            weight=info[:, 2],
            scale=info[:, 3],
            aqed=info[:, 4],
            aqcd=info[:, 5],
            source_index=np.asarray(self.source_index, dtype=np.int64)[good],
            radiation_comment=np.asarray(self.radiation_comment, dtype=object)[good],
            history=_histories(resonance[:, 0] >= 0, resonance[:, 1] >= 0),
            named_weights={k: np.array([self.weights[e][k] for e in rows], dtype=np.float64) for k in weight_keys},
        )


def check_input_file(path: Path) -> None:
    """Raise :class:`LheFormatError` unless ``path`` is a regular file."""
    if not path.exists():
        raise LheFormatError(f"{path}: no such file")
    if not path.is_file():
        raise LheFormatError(f"{path}: not a regular file")


class LheReader:
    """Read a dileptonic top-pair LHE file (``.lhe`` or ``.lhe.gz``) in chunks.

    ``skip_invalid=True`` skips events without the dileptonic final state or with
    non-finite momenta instead of failing; :attr:`skipped` then lists
    ``(event index, reason)`` and :attr:`n_read` is the index of the next event. ``parser``: ``"fast"``
    (:mod:`.fast_events`, pylhe from the first event it does not handle) or ``"pylhe"`` for every event
    (default: ``$LHE_DIDI_READER``, else fast). The header and ``<init>`` are always read with pylhe.
    ``first_index``: the index of the file's first event, for a piece cut from a larger file
    (:mod:`lhe_didi.io.split`), whose name ``name`` then stands in messages.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        skip_invalid: bool = False,
        parser: str | None = None,
        first_index: int = 0,
        name: str | None = None,
    ):
        self.path = Path(path)
        self.name = name or str(self.path)
        self.first_index = first_index
        self.parser = parser or os.environ.get("LHE_DIDI_READER", "fast")
        if self.parser not in ("fast", "pylhe"):
            raise ValueError(f"parser must be 'fast' or 'pylhe', not {self.parser!r}")
        check_input_file(self.path)
        self.skip_invalid = skip_invalid
        self.skipped: list[tuple[int, str]] = []
        self.n_read = first_index
        self._weight_keys: tuple[str, ...] | None = None  # named weights of the file's first valid event
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

    def batches(self, batch_size: int = 10_000, max_events: int | None = None, start: int = 0) -> Iterator[EventBatch]:
        """Yield the file's events in chunks of at most ``batch_size``; stop after reading ``max_events``
        events (None: all). Chunks are shorter where invalid events were skipped. ``start``: begin after the first
        ``start`` events, which are passed over unparsed (indices stay those of the whole file)."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        fast = self._fast_bodies() if self.parser == "fast" else None
        events = None if fast is not None else itertools.islice(iter(self._open_pylhe().events), start, None)
        if fast is not None:
            for _ in itertools.islice(fast, start):
                pass
        self.n_read = self.first_index + start
        remaining = math.inf if max_events is None else max_events
        while remaining > 0:
            builder = _BatchBuilder()
            failure = None
            wanted = min(batch_size, remaining)
            if fast is not None:
                finished, unusual = self._fill_fast(builder, fast, wanted)
                if unusual:  # pylhe reads on from the first event the fast parser left
                    fast = None
                    events = itertools.islice(iter(self._open_pylhe().events), self.n_read - self.first_index, None)
                elif finished:
                    remaining = len(builder)
            if events is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    while len(builder) < wanted:
                        try:
                            event = next(events)
                        except StopIteration:
                            remaining = len(builder)
                            break
                        except RuntimeWarning as exc:
                            failure = LheFormatError(
                                f"{self.name}: truncated or malformed after {self.n_read} events ({exc})"
                            )
                            break
                        except (ValueError, IndexError) as exc:
                            failure = LheFormatError(f"{self.name}: event {self.n_read}: malformed record ({exc})")
                            break
                        except _DECOMPRESSION_ERRORS as exc:
                            failure = LheFormatError(
                                f"{self.name}: cannot decompress after {self.n_read} events ({exc})"
                            )
                            break
                        builder.add(self.n_read, event)
                        self.n_read += 1
            remaining -= len(builder)
            batch = self._build(builder)  # an invalid event before a format error is reported first
            if failure is not None:
                raise failure
            if len(batch):
                yield batch

    def _fast_bodies(self) -> Iterator[str]:
        with _open_text(self.path) as stream:
            yield from event_bodies(stream)

    def _fill_fast(self, builder: _BatchBuilder, bodies: Iterator[str], wanted) -> tuple[bool, bool]:
        """Fill ``builder`` with up to ``wanted`` events of the fast parser; returns (end of file reached, an event
        the fast parser leaves to pylhe was met). The events before that one are kept."""
        chunk, finished, unusual = ParsedChunk(), False, False
        try:
            while len(chunk) < wanted:
                body = next(bodies, None)
                if body is None:
                    finished = True
                    break
                chunk.add(body)
        except (Unusual, ValueError, *_DECOMPRESSION_ERRORS):
            unusual = True
        try:
            info, particles = chunk.arrays()
        except Unusual:  # a number numpy cannot read somewhere in the chunk: pylhe reads the whole chunk
            return False, True
        builder.add_parsed(self.n_read, chunk, info, particles)
        self.n_read += len(chunk)
        return finished, unusual

    def _build(self, builder: _BatchBuilder) -> EventBatch:
        """Freeze a chunk: raise for its first invalid event, or record the invalid ones as skipped."""
        batch, invalid = builder.build(self._weight_keys)
        if invalid and not self.skip_invalid:
            raise EventContentError(*invalid[0])
        self.skipped.extend(invalid)
        if self._weight_keys is None and len(batch):
            self._weight_keys = tuple(batch.named_weights)
        return batch

    def read_all(self) -> EventBatch:
        """Read every event into one batch (small files and tests)."""
        batches = list(self.batches())
        if not batches:
            return _BatchBuilder().build(())[0]
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
