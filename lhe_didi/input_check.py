"""What an input file was made with, and whether a model was made for it.

* :func:`header_parameters` reads the top mass and width, W mass and width and b mass from an LHE header:
  POWHEG's ``powheg.input`` echo (``qmass``, ``tdec/twidth``, ``tdec/wmass``, ``tdec/wwidth``, ``tdec/bmass``) or
  the ``<lhe_didi>`` block of ``lhe-didi generate``.
* :class:`LineShape` counts m(b l nu) of both tops below and above the pole +- :data:`LINE_SHAPE_WINDOW`, the part
  of the top line shape that differs between hvq-like generators (docs/hvq-onshell.md).
* :func:`check_parameters` refuses input whose parameters differ from the model's training values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .constants import B_MASS, TOP_MASS, TOP_WIDTH, W_MASS, W_WIDTH
from .errors import LheDidiError
from .io.reader import LheHeader
from .kinematics.observables import system_masses

GUARDED = ("top_mass", "top_width", "w_mass", "b_mass")
NAMES = {"top_mass": "m_t", "top_width": "Gamma_t", "w_mass": "m_W", "w_width": "Gamma_W", "b_mass": "m_b"}
POWHEG_KEYS = {
    "qmass": "top_mass",
    "tdec/twidth": "top_width",
    "tdec/wmass": "w_mass",
    "tdec/wwidth": "w_width",
    "tdec/bmass": "b_mass",
}
UFO_KEYS = {"MT": "top_mass", "WT": "top_width", "WW": "w_width", "MB": "b_mass"}
RELATIVE_TOLERANCE = 1e-4
LINE_SHAPE_WINDOW = 15.0  # GeV either side of the pole
# models trained before the physics parameters were recorded: all were trained on samples with these values
LEGACY_PHYSICS = {"top_mass": TOP_MASS, "top_width": TOP_WIDTH, "w_mass": W_MASS, "w_width": W_WIDTH, "b_mass": B_MASS}


def header_parameters(header: LheHeader) -> dict:
    """Physics parameters stated in the header, with ``source``; empty (but the source) when it states none."""
    found: dict = {}
    for key, name in POWHEG_KEYS.items():
        match = re.search(rf"^\s*{re.escape(key)}\s+([-+0-9.eEdD]+)", header.preamble, re.M)
        if match:
            found[name] = float(match.group(1).replace("d", "e").replace("D", "e"))
    if found:
        return {**found, "source": "powheg.input in the header"}
    for block in header.lhe_didi_provenance:
        if block.get("command") != "generate":
            continue
        ufo = block.get("ufo_parameters") or {}
        found = {name: float(ufo[key]) for key, name in UFO_KEYS.items() if key in ufo}
        for record in (block, block.get("hvq") or {}):
            found.update({k[:-4]: float(v) for k, v in record.items() if k.endswith("_GeV") and k[:-4] in NAMES})
        if found:
            found.setdefault("w_mass", W_MASS)
            return {**found, "source": "lhe-didi generate"}
    return {"source": "none in the header"}


def model_physics(config: dict) -> dict:
    """The training parameters a model records (older models: :data:`LEGACY_PHYSICS`, said so). Mass-conditional
    models record no top mass and width here: :mod:`lhe_didi.conditions` checks those."""
    physics = config.get("physics")
    if physics and (all(k in physics for k in GUARDED) or "conditions" in config):
        return physics
    return {
        **LEGACY_PHYSICS,
        "source": "not recorded (model trained before they were): the values of every sample then",
    }


def training_physics(data: dict) -> dict:
    """Physics of a DiDi model's training pair: the on-shell file's parameters and its line shape; for a
    mass-conditional model (lists of files) the common W and b parameters and the line shape at each mass."""
    on = data["onshell"]
    if isinstance(on, list):
        physics = {k: LEGACY_PHYSICS[k] for k in ("w_mass", "w_width", "b_mass")}
        for info in on:
            stated = {k: v for k, v in info.get("parameters", {}).items() if k in physics}
            if any(not math.isclose(v, physics[k], rel_tol=RELATIVE_TOLERANCE) for k, v in stated.items()):
                physics.update(stated)  # recorded as found; the guard then checks input against them
        physics["source"] = "on-shell training files (top mass and width: the model's conditions)"
        physics["onshell_line_shapes"] = {
            f"{info['parameters']['top_mass']:g}": info["line_shape"] for info in on if "line_shape" in info
        }
        return physics
    physics = {**LEGACY_PHYSICS, **{k: v for k, v in on.get("parameters", {}).items() if k in NAMES}}
    physics["source"] = f"on-shell training file ({on.get('parameters', {}).get('source', 'none in the header')})"
    if "line_shape" in on:
        physics["onshell_line_shape"] = on["line_shape"]
    return physics


def check_parameters(stated: dict, physics: dict, allow_mismatch: bool = False) -> list[str]:
    """Compare the input's stated parameters with the model's; raise on a mismatch unless ``allow_mismatch``
    (then the mismatch comes back as warning lines). Parameters the input does not state are not checked."""
    mismatched = [
        f"{NAMES[k]} = {stated[k]:g} GeV (model: {physics[k]:g})"
        for k in GUARDED
        if k in stated and k in physics and not math.isclose(stated[k], physics[k], rel_tol=RELATIVE_TOLERANCE)
    ]
    if not mismatched:
        return []
    return refuse_or_warn(
        f"input made with {', '.join(mismatched)}: the model was trained at other values ({stated['source']})",
        allow_mismatch,
    )


def refuse_or_warn(message: str, allow_mismatch: bool) -> list[str]:
    """Input the model was not made for: raise with ``message``, or (``--allow-parameter-mismatch``) return it as
    the one warning line."""
    if not allow_mismatch:
        raise LheDidiError(message + "; --allow-parameter-mismatch transforms it anyway")
    return [message + "; transformed anyway (--allow-parameter-mismatch)"]


def training_line_shape(physics: dict, top_mass: float) -> dict | None:
    """The model's on-shell training line shape at ``top_mass``: recorded (single-mass models), or linearly
    interpolated between the two nearest trained masses (mass-conditional models)."""
    if "onshell_line_shapes" not in physics:
        return physics.get("onshell_line_shape")
    shapes = sorted((float(m), shape) for m, shape in physics["onshell_line_shapes"].items())
    if not shapes:
        return None
    masses = np.array([m for m, _ in shapes])
    interpolated = {
        side: float(np.interp(top_mass, masses, [shape[side] for _, shape in shapes])) for side in ("below", "above")
    }
    return {
        **shapes[0][1],
        **interpolated,
        "pole_GeV": top_mass,
        "top_candidates": min(shape["top_candidates"] for _, shape in shapes),
    }


@dataclass
class LineShape:
    """Counts of top candidates m(b l nu) (both tops) below and above the pole +- the window."""

    pole: float
    below: int = 0
    above: int = 0
    total: int = 0

    def add(self, momenta: np.ndarray) -> None:
        masses = system_masses(momenta)
        tops = np.concatenate([masses["t"], masses["tbar"]])
        self.below += int(np.sum(tops < self.pole - LINE_SHAPE_WINDOW))
        self.above += int(np.sum(tops > self.pole + LINE_SHAPE_WINDOW))
        self.total += len(tops)

    def fractions(self) -> dict:
        total = max(self.total, 1)
        return {
            "window_GeV": LINE_SHAPE_WINDOW,
            "pole_GeV": self.pole,
            "top_candidates": self.total,
            "below": self.below / total,
            "above": self.above / total,
        }

    def compare(self, training: dict | None) -> tuple[str, bool]:
        """One line comparing with the training sample's fractions, and whether they differ beyond 5 sigma and 10%."""
        mine = self.fractions()
        head = (
            f"line shape: m(b l nu) below m_t - {LINE_SHAPE_WINDOW:g} GeV {100 * mine['below']:.2f}%, above "
            f"m_t + {LINE_SHAPE_WINDOW:g} GeV {100 * mine['above']:.2f}% of {self.total} top candidates"
        )
        if not training:
            return head + " (the model records no training line shape)", False
        differs = False
        for side in ("below", "above"):
            f, g = mine[side], training[side]
            error = math.sqrt(f * (1 - f) / max(self.total, 1) + g * (1 - g) / max(training["top_candidates"], 1))
            differs |= abs(f - g) > 5 * error and abs(f - g) > 0.1 * g
        tail = (
            f"; the model's on-shell training sample: {100 * training['below']:.2f}% / {100 * training['above']:.2f}%"
        )
        return head + tail + (
            " -- DIFFERENT: this input is not distributed as the model's training input" if differs else ""
        ), differs
