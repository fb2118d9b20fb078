"""Tree-level |M|^2 for pp -> b l+ nu b~ l- nu~ at O(alpha_s^2 alpha^4) from pyamplicol.

Two model variants of the UFO Standard Model packaged with pyamplicol:

* ``offshell``: the full model: all doubly, singly and non-resonant diagrams
  and their interference (bb4l-like at LO);
* ``onshell``: the same model without the g-b-b~ vertex. At this order that
  leaves exactly the doubly-resonant t t~ diagrams (gluons can then only attach
  to top lines, and b quarks only come from t -> b W), i.e. hvq's treatment
  with exact spin correlations.

Artifacts are built once with the pyamplicol CLI (``model compile``, then
``generate``, about 20 s each) and cached in ``$LHE_DIDI_CACHE`` (default
``~/.cache/lhe-didi``), keyed by pyamplicol version, variant and process.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import LheDidiError
from ..extras import require

CHANNELS = ("gg", "uu~", "dd~")  # u u~ also serves c c~, d d~ also s s~ (massless, trivial CKM)
VARIANTS = ("onshell", "offshell")
LEPTON_PLUS = {"e+": ("e+", "ve", -11, 12), "mu+": ("mu+", "vm", -13, 14), "ta+": ("ta+", "vt", -15, 16)}
LEPTON_MINUS = {"e-": ("e-", "ve~", 11, -12), "mu-": ("mu-", "vm~", 13, -14), "ta-": ("ta-", "vt~", 15, -16)}
_INITIAL = {"gg": "g g", "uu~": "u u~", "dd~": "d d~"}
# final-state order in the process string: l+ nu b l- nu~ b~  ->  slots b, l+, nu, b~, l-, nu~
_TO_PROCESS_ORDER = [1, 2, 0, 4, 5, 3]
_GBB_VERTEX = re.compile(
    r"\nV_\d+ = Vertex\(name = 'V_\d+',\s*particles = \[ P\.b__tilde__, P\.b, P\.g \],.*?\)\n", re.S
)


def cache_directory() -> Path:
    """Where pyamplicol artifacts are cached (``$LHE_DIDI_CACHE`` or ``~/.cache/lhe-didi``)."""
    return Path(os.environ.get("LHE_DIDI_CACHE", Path.home() / ".cache" / "lhe-didi"))


def process_string(channel: str, leptons: tuple[str, str]) -> str:
    """pyamplicol process, e.g. ``g g > e+ ve b mu- vm~ b~``."""
    (lp, nu, _, _), (lm, nubar, _, _) = LEPTON_PLUS[leptons[0]], LEPTON_MINUS[leptons[1]]
    return f"{_INITIAL[channel]} > {lp} {nu} b {lm} {nubar} b~"


def final_state_pdg(leptons: tuple[str, str]) -> list[int]:
    """PDG ids in slot order b, l+, nu, b~, l-, nu~."""
    _, _, lp, nu = LEPTON_PLUS[leptons[0]]
    _, _, lm, nubar = LEPTON_MINUS[leptons[1]]
    return [5, lp, nu, -5, lm, nubar]


def _pyamplicol_command() -> str:
    """The pyamplicol CLI of this interpreter's environment (found also when that environment is not activated)."""
    beside = Path(sys.executable).parent / "pyamplicol"
    return str(beside) if beside.exists() else (shutil.which("pyamplicol") or "pyamplicol")


def _run(command: list[str], what: str) -> None:
    command = [_pyamplicol_command(), *command[1:]] if command[0] == "pyamplicol" else command
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        raise LheDidiError(f"cannot {what}: the pyamplicol command is not installed (pip install pyamplicol)") from None
    if result.returncode != 0:
        output = result.stderr + result.stdout
        if "restricted Symbolica thread" in output:
            raise LheDidiError(
                f"pyamplicol cannot {what} while another process of this user has pyamplicol loaded"
                " (Symbolica licence limit): let it finish, then run again"
            )
        lines = [line.strip("│| ").strip() for line in output.strip().splitlines()]
        errors = (
            [line for line in lines if line.lower().startswith("error")]
            or [text for text in lines if text][-1:]
            or ["no output"]
        )
        raise LheDidiError(f"pyamplicol failed to {what}: {errors[0]}")


def _pyamplicol_version() -> str:
    return metadata.version("pyamplicol")


def _ufo_source() -> Path:
    # found without importing pyamplicol: an importing process holds Symbolica's one-per-user
    # licence slot, and the compiler subprocess would then be refused
    spec = importlib.util.find_spec("pyamplicol")
    return Path(spec.submodule_search_locations[0]) / "assets" / "models" / "ufo" / "sm"


def build_model(variant: str, cache: Path) -> Path:
    """Compile the UFO model variant (cached); returns the ``.pyamplicol-model`` path."""
    model = cache / f"sm-{variant}-{_pyamplicol_version()}.pyamplicol-model"
    if model.exists():
        return model
    source = cache / f"ufo-sm-{variant}"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(_ufo_source(), source)
    if variant == "onshell":
        vertices = source / "vertices.py"
        text, removed = _GBB_VERTEX.subn("\n", vertices.read_text())
        if removed != 1:
            raise LheDidiError(f"expected one g-b-b~ vertex in the packaged UFO SM, found {removed}")
        vertices.write_text(text)
    partial = model.with_name("partial-" + model.name)
    _run(
        ["pyamplicol", "model", "compile", str(source), str(partial), "--backend", "jit"],
        f"compile the {variant} model",
    )
    partial.rename(model)
    return model


def build_process(variant: str, channel: str, leptons: tuple[str, str], cache: Path | None = None) -> Path:
    """Generate (cached) the pyamplicol artifact of one subprocess; returns its directory."""
    cache = cache or cache_directory()
    cache.mkdir(parents=True, exist_ok=True)
    process = process_string(channel, leptons)
    key = hashlib.sha256(f"{_pyamplicol_version()}|{variant}|{process}|full|QCD=2|QED=4".encode()).hexdigest()[:16]
    artifact = cache / f"{variant}-{re.sub(r'[^A-Za-z0-9]+', '_', process)}-{key}"
    if (artifact / "artifact.json").exists():
        return artifact
    model = build_model(variant, cache)
    partial = artifact.with_name(artifact.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _run(
        [
            "pyamplicol",
            "generate",
            process,
            str(partial),
            "--model",
            str(model),
            "--color-accuracy",
            "full",
            "--max-coupling-order",
            "QCD=2",
            "--max-coupling-order",
            "QED=4",
        ],
        f"generate {process} ({variant})",
    )
    partial.rename(artifact)
    return artifact


def build_all(leptons: tuple[str, str], cache: Path | None = None) -> dict[tuple[str, str], Path]:
    """Build (or find cached) every variant and channel for these leptons.

    All builds happen before pyamplicol is imported in this process: a process that
    has imported it holds Symbolica's one-per-user licence slot and the compiler is
    then refused.
    """
    require("generate", "the reference generator")
    return {(v, c): build_process(v, c, leptons, cache) for v in VARIANTS for c in CHANNELS}


class _NoSymbolica(importlib.abc.MetaPathFinder):
    """Makes ``import symbolica`` fail as if it were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "symbolica" or name.startswith("symbolica."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def runtime_class():
    """pyamplicol's ``Runtime``, imported without Symbolica (from then on, in this process) where pyamplicol is not
    yet loaded.

    Evaluating compiled artifacts runs in pyamplicol's native runtime (rusticol) and needs no Symbolica; pyamplicol
    imports Symbolica only to register its licence key and carries on without it when it is missing. Symbolica's
    licence admits one process per user, so without it any number of ``generate`` processes evaluate at once; only
    building artifacts (:func:`build_all`, the pyamplicol CLI in a subprocess) needs Symbolica.
    """
    if "pyamplicol" not in sys.modules and not any(isinstance(f, _NoSymbolica) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoSymbolica())  # for good: pyamplicol may import lazily later
    from pyamplicol import Runtime

    return Runtime


class MatrixElements:
    """Spin- and colour-averaged |M|^2 of the three partonic channels of one model variant."""

    def __init__(self, variant: str, leptons: tuple[str, str], parameters: dict[str, float], cache: Path | None = None):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}")
        built = build_all(leptons, cache)
        artifacts = {channel: built[(variant, channel)] for channel in CHANNELS}
        Runtime = runtime_class()  # imported only after every build (see build_all)

        self.variant = variant
        self.leptons = leptons
        self.runtimes = {}
        for channel, artifact in artifacts.items():
            runtime = Runtime.load(artifact, mute_warnings=True)
            runtime.set_model_parameters(parameters)
            self.runtimes[channel] = runtime

    def evaluate(self, channel: str, incoming: np.ndarray, final: np.ndarray) -> np.ndarray:
        """|M|^2 for incoming (N, 2, 4) in the channel's parton order and final (N, 6, 4) in slot order."""
        if len(final) == 0:
            return np.zeros(0)
        points = np.concatenate([incoming, final[:, _TO_PROCESS_ORDER]], axis=1)
        values = np.asarray(self.runtimes[channel].evaluate(np.ascontiguousarray(points, dtype=np.float64)))
        return values.real.astype(np.float64)
