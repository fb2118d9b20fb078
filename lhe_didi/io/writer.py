"""Writer for bb4l-like Les Houches event files.

Each event is rebuilt from its six decay products (and extra partons):
incoming partons from the final state (x1, x2 from E +- pz, flavours and
colours kept), the resonances of the event's resonance history (t t~, t W- or
t~ W+, :mod:`lhe_didi.kinematics.histories`) as status-2 entries whose momenta
are the sums of their daughters and whose masses are the daughters' invariant
masses, SPINUP 9, and XWGTUP/SCALUP/couplings carried over. A t t~ record
follows POWHEG hvq's order: 1-2 incoming, 3 t, 4 t~, [extra partons], W+, b,
W-, b~, l+, nu, l-, nu~ (the single-top layouts: :class:`_RecordParts`). The
first comment line of every event is POWHEG's ``#rwgt`` line (radiation type
first; the bb4l shower hooks read it): the input event's own, or
:data:`DEFAULT_RADIATION_COMMENT`. Transformed events then carry a
``#lhe-didi source-event N`` line (the input event they were made from).

The file is written to a temporary name in the output directory and renamed
only when :meth:`LheWriter.close` succeeds, so a failure never leaves a
partial output file. A .lhe.gz file is a series of gzip members (any gzip
reader reads them as one stream): header and ``<init>``, one per batch of
events written, the end; so the events of several files, or of one input cut
into ranges of whole batches, join byte for byte without decompressing
(:attr:`LheWriter.event_bytes`, :func:`lhe_didi.io.merge.merge_files`).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
from pathlib import Path

import awkward as ak
import numpy as np

from .. import __version__
from ..errors import EventContentError, LheDidiError
from ..kinematics.histories import T_WMINUS, TBAR_WPLUS, TTBAR
from ..kinematics.observables import invariant_mass
from .events import EventBatch, momentum_fractions
from .files import publish
from .reader import RADIATION_TAG, SOURCE_EVENT_TAG, LheHeader

# Every event's first comment line is POWHEG's '#rwgt' line (the bb4l shower hooks read the radiation type from it):
# the input event's own, or this one for input without it (radiation type 1, region 1, no weight or seeds).
DEFAULT_RADIATION_COMMENT = RADIATION_TAG + " 1 1 0 0 0 0"
_RADIATION_SLOT = "\x00"  # where the '#rwgt' line goes in an event template

_IN1, _IN2 = 1, 2  # record numbers of the incoming partons (layouts: _RecordParts)
_MOMENTUM_TOLERANCE = 1e-6  # relative, on the event's total energy
GZIP_LEVEL = 3
_WRITE_CHUNK = 20_000  # events formatted at a time (about 30 MB of text)
_EVENT_LINE = "%3d %6d % .10e % .10e % .10e % .10e\n"  # NUP IDPRUP XWGTUP SCALUP AQEDUP AQCDUP
# 12 significant digits as POWHEG's E format, written with %g: half the formatting time (docs/benchmarks.md)
_PARTICLE_LINE = "%9d%5d%5d%5d%5d%5d % 19.12g % 19.12g % 19.12g % 19.12g % 19.12g 0.0000e+00 9.0000e+00\n"


def _lines(pdg, status, mother1, mother2, colour1, colour2, momentum, mass) -> np.ndarray:
    """Values of particle lines for n events as an (n, 11) array in :data:`_PARTICLE_LINE` order;
    ``momentum`` is (n, 4) as (E, px, py, pz), the other arguments (n,) arrays or scalars."""
    n = len(momentum)
    columns = [
        pdg,
        status,
        mother1,
        mother2,
        colour1,
        colour2,
        momentum[:, 1],
        momentum[:, 2],
        momentum[:, 3],
        momentum[:, 0],
        mass,
    ]
    return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in columns], axis=1)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _RecordParts:
    """The particle lines of a batch's events for each resonance history (:mod:`lhe_didi.kinematics.histories`).

    Layouts (1-based records, k extra partons): t t~: 1-2 incoming, 3 t, 4 t~, extras, W+ (5+k), b, W- (7+k), b~,
    l+, nu, l-, nu~. t W-: 3 t, 4 W-, 5 b~ (both from the hard process), extras, W+ (6+k), b, l+, nu, l-, nu~.
    t~ W+: 3 t~, 4 W+, 5 b, extras, W- (6+k), b~, l+, nu, l-, nu~. A b~ (b) from the hard process keeps its colour,
    the one the t~ (t) it replaces would carry.
    """

    def __init__(self, batch: EventBatch, incoming_p, resonance_p, resonance_m):
        self.batch = batch
        self.incoming_p = incoming_p
        self.resonance_p = resonance_p
        self.resonance_m = resonance_m

    def _resonance(self, group, slot: int, pdg: int, mother: int, mother2: int) -> np.ndarray:
        colours = self.batch.resonance_colours[group, slot].T
        return _lines(pdg, 2, mother, mother2, *colours, self.resonance_p[group, slot], self.resonance_m[group, slot])

    def _product(self, group, slot: int, mother: int, mother2: int) -> np.ndarray:
        b = self.batch
        return _lines(
            b.pdg[group, slot],
            1,
            mother,
            mother2,
            *b.colours[group, slot].T,
            b.momenta[group, slot],
            b.masses[group, slot],
        )

    def lines(self, group: np.ndarray, history: int, k: int) -> list[np.ndarray]:
        """Event line and particle lines, each (n, columns), of the events ``group`` written with ``history``."""
        b = self.batch
        head = [
            np.stack(
                [
                    b.n_extras[group] + (12.0 if history == TTBAR else 11.0),
                    b.process_id[group],
                    b.weight[group],
                    b.scale[group],
                    b.aqed[group],
                    b.aqcd[group],
                ],
                axis=1,
            ),
            _lines(b.incoming_pdg[group, 0], -1, 0, 0, *b.incoming_colours[group, 0].T, self.incoming_p[group, 0], 0.0),
            _lines(b.incoming_pdg[group, 1], -1, 0, 0, *b.incoming_colours[group, 1].T, self.incoming_p[group, 1], 0.0),
        ]
        if history == TTBAR:
            w_plus, w_minus = 5 + k, 7 + k
            production = [self._resonance(group, 0, 6, _IN1, _IN2), self._resonance(group, 1, -6, _IN1, _IN2)]
            decays = [
                self._resonance(group, 2, 24, 3, 3),
                self._product(group, 0, 3, 3),
                self._resonance(group, 3, -24, 4, 4),
                self._product(group, 3, 4, 4),
            ]
            roles = [0, _IN1, _IN2, 3, 4, w_plus, w_minus]  # MOTHER_ROLES -> record
        elif history == T_WMINUS:
            w_plus, w_minus = 6 + k, 4
            production = [
                self._resonance(group, 0, 6, _IN1, _IN2),
                self._resonance(group, 3, -24, _IN1, _IN2),
                self._product(group, 3, _IN1, _IN2),
            ]
            decays = [self._resonance(group, 2, 24, 3, 3), self._product(group, 0, 3, 3)]
            roles = [0, _IN1, _IN2, 3, None, w_plus, w_minus]
        elif history == TBAR_WPLUS:
            w_plus, w_minus = 4, 6 + k
            production = [
                self._resonance(group, 1, -6, _IN1, _IN2),
                self._resonance(group, 2, 24, _IN1, _IN2),
                self._product(group, 0, _IN1, _IN2),
            ]
            decays = [self._resonance(group, 3, -24, 3, 3), self._product(group, 3, 3, 3)]
            roles = [0, _IN1, _IN2, None, 3, w_plus, w_minus]
        else:
            raise ValueError(f"unknown resonance history {history}")
        # an extra parton whose mother is a resonance this history lacks comes from the hard process (1, 2)
        role1 = np.array([_IN1 if r is None else r for r in roles])
        role2 = np.array([_IN2 if r is None else r for r in roles])
        extras = b.extras[group]
        flat = {name: ak.to_numpy(ak.flatten(extras[name])).reshape(len(group), k) for name in extras.fields}
        radiated = [
            _lines(
                flat["pdg"][:, j],
                1,
                role1[flat["mother1"][:, j]],
                role2[flat["mother2"][:, j]],
                flat["colour1"][:, j],
                flat["colour2"][:, j],
                np.stack([flat[c][:, j] for c in ("E", "px", "py", "pz")], axis=1),
                flat["mass"][:, j],
            )
            for j in range(k)
        ]
        leptons = [
            self._product(group, slot, mother, mother)
            for slot, mother in ((1, w_plus), (2, w_plus), (4, w_minus), (5, w_minus))
        ]
        return head + production + radiated + decays + leptons


def member_bytes(text: str, compressed: bool) -> bytes:
    """``text`` as :class:`LheWriter` writes a part of a file on its own: one gzip member, or plain UTF-8."""
    data = text.encode("utf-8")
    if not compressed:
        return data
    member = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=GZIP_LEVEL, mtime=0, fileobj=member) as stream:
        stream.write(data)
    return member.getvalue()


class LheWriter:
    """Write events as LHEF 3.0, keeping the input's header and ``<init>`` block.

    ``provenance`` (JSON-serialisable) goes into an ``<lhe_didi>`` block in the
    header. ``weight_descriptions`` declares the named weights written in each
    event's ``<rwgt>`` block (id -> description) in ``<initrwgt>``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        header: LheHeader,
        provenance: dict,
        weight_descriptions: dict[str, str] | None = None,
    ):
        self.path = Path(path)
        if self.path.is_dir():
            raise LheDidiError(f"{self.path}: is a directory, expected an output file name")
        if not self.path.parent.exists():
            raise LheDidiError(f"{self.path.parent}: output directory does not exist")
        self.header = header
        self.weight_descriptions = dict(weight_descriptions or {})
        self.footer = ""  # text written just before </LesHouchesEvents>, e.g. an XML comment
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        os.close(handle)
        self._temporary = Path(temporary)
        self._raw = open(self._temporary, "wb")
        self._member: gzip.GzipFile | None = None
        self._compressed = self.path.suffix == ".gz"
        self.event_bytes: tuple[int, int] | None = None  # where the events member lies in the file, once closed
        self._write_member(self._preamble(provenance))
        self._events_start = self._raw.tell()

    def _start_member(self) -> None:
        # level 3: 2.4x faster than level 6, files 13% larger (docs/benchmarks.md); no time stamp or file name in
        # the gzip header: the same events give the same bytes (and SHA-256)
        self._member = gzip.GzipFile(filename="", mode="wb", compresslevel=GZIP_LEVEL, mtime=0, fileobj=self._raw)

    def _end_member(self) -> None:
        if self._member is not None:
            self._member.close()  # a GzipFile given a file object leaves it open
            self._member = None

    def _write(self, text: str) -> None:
        if self._compressed and self._member is None:
            self._start_member()
        (self._member or self._raw).write(text.encode("utf-8"))

    def _write_member(self, text: str) -> None:
        """``text`` as a gzip member of its own (plain text for .lhe)."""
        self._end_member()
        self._raw.write(member_bytes(text, self._compressed))

    def _preamble(self, provenance: dict) -> str:
        block = {"tool": "lhe-didi", "version": __version__, **provenance}
        provenance_xml = "<lhe_didi>\n" + _xml_text(json.dumps(block, indent=1, sort_keys=True)) + "\n</lhe_didi>\n"
        preamble = self.header.preamble
        if self.weight_descriptions:
            group = (
                "<weightgroup name='lhe-didi'>\n"
                + "".join(
                    f"<weight id='{wid}'>{_xml_text(text)}</weight>\n" for wid, text in self.weight_descriptions.items()
                )
                + "</weightgroup>\n"
            )
            if "</initrwgt>" in preamble:
                preamble = preamble.replace("</initrwgt>", group + "</initrwgt>", 1)
            else:
                provenance_xml += "<initrwgt>\n" + group + "</initrwgt>\n"
        if "</header>" in preamble:
            preamble = preamble.replace("</header>", provenance_xml + "</header>", 1)
        else:
            preamble = preamble.rstrip("\n") + "\n<header>\n" + provenance_xml + "</header>\n"
        return '<LesHouchesEvents version="3.0">' + preamble + self.header.init_block + "\n"

    def write(self, batch: EventBatch, extra_weights: dict[str, np.ndarray] | None = None) -> None:
        """Append a batch; ``extra_weights`` (id -> (N,) array) are added to the carried-over named weights."""
        named = dict(batch.named_weights)
        for wid, values in (extra_weights or {}).items():
            if wid not in self.weight_descriptions:
                raise ValueError(f"weight {wid!r} was not declared when the writer was opened")
            named[wid] = np.asarray(values, dtype=np.float64)
        for first in range(0, len(batch), _WRITE_CHUNK):  # bounded memory for million-event batches
            part = slice(first, first + _WRITE_CHUNK)
            self._write("".join(self._event_blocks(batch.select(part), {k: v[part] for k, v in named.items()})))
        self._end_member()  # one gzip member per batch: files cut at batch boundaries join byte for byte

    def _event_blocks(self, batch: EventBatch, named: dict[str, np.ndarray]):
        momenta = batch.momenta
        total = batch.final_state_momentum
        imbalance = np.hypot(total[:, 1], total[:, 2])
        x1, x2, fractions_ok = momentum_fractions(total, self.header.beam_energies)
        plus, minus = x1 * self.header.beam_energies[0], x2 * self.header.beam_energies[1]
        for i in np.flatnonzero(imbalance > _MOMENTUM_TOLERANCE * total[:, 0]):
            raise EventContentError(int(batch.index[i]), f"final state has transverse momentum {imbalance[i]:.3g} GeV")
        for i in np.flatnonzero(~fractions_ok):
            raise EventContentError(
                int(batch.index[i]), f"momentum fractions x1={x1[i]:.4g}, x2={x2[i]:.4g} outside (0, 1]"
            )

        w_plus = momenta[:, 1] + momenta[:, 2]
        w_minus = momenta[:, 4] + momenta[:, 5]
        resonance_p = np.stack([momenta[:, 0] + w_plus, momenta[:, 3] + w_minus, w_plus, w_minus], axis=1)
        resonance_m = invariant_mass(resonance_p)
        zero = np.zeros_like(plus)
        incoming_p = np.stack(
            [np.stack([plus, zero, zero, plus], axis=-1), np.stack([minus, zero, zero, -minus], axis=-1)], axis=1
        )
        record = _RecordParts(batch, incoming_p, resonance_p, resonance_m)
        weights = np.stack(list(named.values()), axis=1) if named else np.zeros((len(batch), 0))
        weight_lines = "".join(f"<wgt id='{wid.replace('%', '%%')}'> % .10e </wgt>\n" for wid in named)
        rwgt = "<rwgt>\n" + weight_lines + "</rwgt>\n" if named else ""

        blocks = np.empty(len(batch), dtype=object)
        n_extras = batch.n_extras
        has_source = batch.source_index >= 0
        for history in np.unique(batch.history):
            for k in np.unique(n_extras):
                for source in (False, True):
                    group = np.flatnonzero((batch.history == history) & (n_extras == k) & (has_source == source))
                    if not len(group):
                        continue
                    lines = record.lines(group, int(history), int(k))
                    table = np.concatenate(
                        lines + ([batch.source_index[group, None]] if source else []) + [weights[group]], axis=1
                    )
                    template = (
                        "<event>\n"
                        + _EVENT_LINE
                        + _PARTICLE_LINE * (len(lines) - 1)
                        + _RADIATION_SLOT
                        + (SOURCE_EVENT_TAG + " %d\n" if source else "")
                        + rwgt
                        + "</event>\n"
                    )
                    comments = [(c or DEFAULT_RADIATION_COMMENT) + "\n" for c in batch.radiation_comment[group]]
                    blocks[group] = [
                        (template % tuple(values)).replace(_RADIATION_SLOT, comment, 1)
                        for values, comment in zip(table.tolist(), comments, strict=True)
                    ]
        return blocks.tolist()

    def write_text(self, text: str) -> None:
        """Append already formatted event blocks (:func:`lhe_didi.io.merge.merge_files` with ``verbatim``)."""
        self._write(text)

    def write_event_member(self, data: bytes) -> None:
        """Append the bytes of another file's events member (:attr:`event_bytes`) as they are: for .lhe.gz a
        complete gzip member (:func:`lhe_didi.io.merge.concatenate_events`), for .lhe the event text."""
        self._end_member()
        self._raw.write(data)

    def close(self) -> Path:
        """Finish the file and move it to its final name."""
        start = self._events_start
        self._end_member()
        self.event_bytes = (start, self._raw.tell())
        self._write_member(self.footer + "</LesHouchesEvents>\n")
        self._raw.close()
        return publish(self._temporary, self.path)

    def abort(self) -> None:
        """Discard the temporary file."""
        self._end_member()
        self._raw.close()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> LheWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
