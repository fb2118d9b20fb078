"""Concatenate LHE files of one process (independent runs) into one file.

Beams, process ids, named weights and (for DiDi output) the DiDi model must agree. The ``<init>`` cross section of
each process becomes the inverse-variance weighted mean of the runs (XMAXUP the
largest of the runs); the header text is the first file's, with a ``merge``
provenance block.
Events keep their weights; ``#lhe-didi source-event`` pairings are dropped, since
event numbers of different inputs would collide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LheDidiError
from .files import copy_range
from .reader import SOURCE_EVENT_TAG, LheHeader, LheReader, _open_text
from .writer import LheWriter


@dataclass
class MergeReport:
    """Events taken from each input and the combined cross sections (pb)."""

    events: list[int]
    cross_sections: list[tuple[float, float, int]]


def combined_cross_sections(headers: list[LheHeader]) -> list[tuple[float, float, int]]:
    """Per process: inverse-variance weighted mean of XSECUP over the runs and its error."""
    combined = []
    for runs in zip(*(h.cross_sections for h in headers), strict=False):
        process = runs[0][2]
        if any(error <= 0 for _, error, _ in runs):  # no errors given: plain mean
            mean = sum(x for x, _, _ in runs) / len(runs)
            combined.append((mean, 0.0, process))
            continue
        inverse = [1.0 / error**2 for _, error, _ in runs]
        mean = sum(x * w for (x, _, _), w in zip(runs, inverse, strict=False)) / sum(inverse)
        combined.append((mean, 1.0 / math.sqrt(sum(inverse)), process))
    return combined


@dataclass(frozen=True)
class WrittenEvents:
    """A file this package wrote, with where its events lie (:attr:`lhe_didi.io.writer.LheWriter.event_bytes`) and
    how many there are: what :func:`merge_files` needs to copy them without decompressing."""

    path: str | Path
    event_bytes: tuple[int, int]
    events: int


def merge_files(
    inputs: list[str | Path],
    output: str | Path,
    progress=None,
    labels: list[str] | None = None,
    verbatim: bool = False,
    written: list[WrittenEvents] | None = None,
) -> MergeReport:
    """Write the events of ``inputs`` (in order) to ``output``; see the module docstring. ``labels``: what the
    header records for the inputs instead of their paths (e.g. the shards of one run). ``verbatim``: copy the
    event blocks as text instead of parsing and rewriting them (inputs without source-event lines, e.g. the shards
    of ``generate``): each record exactly as its input wrote it, where rewriting rebuilds the resonances from the
    printed daughters (last digits); several times faster. ``written`` (one per input, the inputs' compression
    that of ``output``): copy each input's events region byte for byte, gzip members as they are, without
    decompressing (the shards of one run)."""
    if len(inputs) < 2:
        raise LheDidiError("merge needs at least two input files")
    header, provenance, cross_sections = _merged_header(inputs, labels)
    events, offset = [], 0
    with LheWriter(output, header, provenance) as writer:  # named weights: declared in the kept header
        if written is not None:
            for part in written:
                _copy_event_bytes(part, writer)
                events.append(part.events)
                if progress is not None:
                    progress(part.events)
            return MergeReport(events=events, cross_sections=cross_sections)
        if verbatim:
            for path in inputs:
                events.append(_copy_event_text(path, writer, progress))
            return MergeReport(events=events, cross_sections=cross_sections)
        for reader in (LheReader(path) for path in inputs):
            n = 0
            for batch in reader.batches(50_000):
                batch.index = batch.index + offset
                batch.source_index = np.full(len(batch), -1)
                writer.write(batch)
                n += len(batch)
                if progress is not None:
                    progress(len(batch))
            events.append(n)
            offset += n
    return MergeReport(events=events, cross_sections=cross_sections)


def _merged_header(inputs: list[str | Path], labels: list[str] | None) -> tuple[LheHeader, dict, list]:
    """The first input's header with the combined ``<init>``, the ``merge`` provenance block and the combined cross
    sections; refuses inputs that do not belong together."""
    headers = [LheReader(path).header for path in inputs]
    reference = headers[0]
    for path, header in zip(inputs[1:], headers[1:], strict=False):
        if header.beam_energies != reference.beam_energies or header.beam_ids != reference.beam_ids:
            raise LheDidiError(f"{path}: beams differ from those of {inputs[0]}")
        if [p for _, _, p in header.cross_sections] != [p for _, _, p in reference.cross_sections]:
            raise LheDidiError(f"{path}: process ids differ from those of {inputs[0]}")
        if set(header.weight_ids) != set(reference.weight_ids):
            raise LheDidiError(f"{path}: named weights differ from those of {inputs[0]}")
        if header.didi_model_hash != reference.didi_model_hash:
            raise LheDidiError(f"{path}: made by a different DiDi model than {inputs[0]}")
        if header.didi_mirror_seed != reference.didi_mirror_seed:  # reweight recomputes the mirrored half from it
            raise LheDidiError(
                f"{path}: beam symmetrisation (transform --beam-symmetrise and its --seed) differs from {inputs[0]}"
            )
    cross_sections = combined_cross_sections(headers)
    max_weights = [max(abs(w) for w in runs) for runs in zip(*(h.max_weights for h in headers), strict=True)]
    header = reference.with_cross_sections(cross_sections, max_weights)  # the first file's <init>, combined
    provenance = {
        "command": "merge",
        "inputs": labels or [str(p) for p in inputs],
        "cross_sections_pb": [[x, e, p] for x, e, p in cross_sections],
    }
    return header, provenance, cross_sections


def _copy_event_bytes(part: WrittenEvents, writer: LheWriter) -> None:
    """Append ``part``'s events region to ``writer`` as it is (gzip members stay members)."""
    if Path(part.path).suffix != writer.path.suffix:
        raise LheDidiError(f"{part.path}: compressed differently from {writer.path}, its bytes cannot be copied")
    try:
        copy_range(part.path, *part.event_bytes, writer.write_event_member)
    except OSError as exc:
        raise LheDidiError(str(exc)) from exc


def _copy_event_text(path: str | Path, writer: LheWriter, progress=None) -> int:
    """Append the event blocks of ``path`` (the text between ``</init>`` and the end tag) to ``writer``; returns the
    number of events. Refuses events with a source-event line (merging drops those)."""
    count, inside, chunk = 0, False, []
    with _open_text(Path(path)) as handle:
        for line in handle:
            if not inside:
                inside = line.startswith("</init>")
                continue
            if line.startswith("</LesHouchesEvents>"):
                break
            if line.startswith(SOURCE_EVENT_TAG):
                raise LheDidiError(f"{path}: events with source-event lines cannot be merged verbatim")
            if line.startswith("<event>"):
                count += 1
                if count % 10_000 == 0:
                    writer.write_text("".join(chunk))
                    chunk = []
                    if progress is not None:
                        progress(10_000)
            chunk.append(line)
    writer.write_text("".join(chunk))
    if progress is not None:
        progress(count % 10_000)
    return count
