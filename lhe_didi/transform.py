"""On-shell -> off-shell event transformation with a trained Direct Diffusion model.

Per chunk of events: six decay products -> zero-pT frame (NLO recoil) -> the model's coordinates
(:mod:`lhe_didi.kinematics.representation`) -> standardised -> dx/dt = v(x, t) solved from t = 1 to
t = 0 (torchdiffeq: fixed-step rk4 by default, adaptive dopri5 as an option; :class:`Solver`) ->
inverse preprocessing -> four-momenta -> pT balance restored -> boosted so that the system balances the
extra partons -> written with the bb4l-like writer, with the classifier weight w = C/(1 - C) as a named
weight when a classifier is available (:mod:`lhe_didi.reweight`).

By default a seeded half of the events is mapped with the beams exchanged, R Phi R, so that the output
keeps the beam-exchange symmetry of pp collisions (:mod:`lhe_didi.kinematics.symmetry`). Balance: by
default (``neutrino="boost"``) nu~ keeps the network's own (pT, phi) and the six-body system is boosted
transversely, which preserves all invariant masses; ``neutrino="balance"`` recomputes nu~ from the 15
physical coordinates as in the method paper.

Outputs that are not physical (non-finite, pT <= 0, a rapidity or resonance mass beyond the training
range, a mass below its two-body threshold, parton momentum fraction above 1) are not written; their
indices are reported and recorded at the end of the output file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torchdiffeq import odeint

from .conditions import MassCondition, top_width
from .constants import TOP_MASS, TOP_WIDTH
from .errors import LheDidiError
from .input_check import LineShape, check_parameters, header_parameters, model_physics, training_line_shape
from .io.events import EventBatch, momentum_fractions
from .io.merge import WrittenEvents
from .io.reader import LheReader
from .io.writer import LheWriter
from .kinematics.histories import TTBAR, assign_histories
from .kinematics.recoil import from_zero_pt_frame, to_zero_pt_frame
from .kinematics.representation import Preprocessor
from .kinematics.symmetry import beam_exchange, mirrored_events
from .models.store import load_network
from .models.velocity import BFloat16Field, VelocityField
from .normalisation import offshell_factor, scaled_events, scaled_header
from .normalisation import provenance as normalisation_provenance
from .pipeline import BackgroundWriter, read_ahead
from .reweight import WEIGHT_ID, WeightSettings, WeightSummary, apply_weights, resolve_classifier
from .runtime import events_per_call, events_per_chunk, native_bfloat16, resolve_device
from .shipped import DIDI_DEFAULT, shipped_model

DEFAULT_MODEL = shipped_model(DIDI_DEFAULT)
HISTORY_RULES = {
    "projected": "each event drawn t t~, t W- or t~ W+ with probability Pi_f of POWHEG-BOX-RES "
    "(Jezo and Nason, arXiv:1509.09071), from its top virtualities; lhe_didi.kinematics.histories",
    "ttbar": "every event written as t t~ (as hvq)",
}
HISTORY_CHOICES = tuple(HISTORY_RULES)


@dataclass(frozen=True)
class Solver:
    """How the flow ODE is integrated from t = 1 to t = 0 (torchdiffeq).

    ``rk4``: fourth-order Runge-Kutta (torchdiffeq's, Kutta's 3/8 rule) with ``steps`` equal steps, 4 velocity
    evaluations each; ``dopri5``: adaptive
    Dormand-Prince with tolerances ``rtol``, ``atol``. ``steps`` None: the number the model's validation chose
    (:meth:`for_model`: its config's ``transform.rk4_steps``, else :data:`DEFAULT_RK4_STEPS`; docs/benchmarks.md).
    ``precision``: the arithmetic of the velocity evaluations, ``float32`` or ``bfloat16``
    (:class:`lhe_didi.models.velocity.BFloat16Field`; the ODE state is float32 either way), ``auto``: bfloat16 where
    the device multiplies it in hardware (:func:`lhe_didi.runtime.native_bfloat16`), else float32 (:meth:`on`).
    """

    method: str = "rk4"
    steps: int | None = None
    rtol: float = 1e-5
    atol: float = 1e-5
    precision: str = "auto"

    def __post_init__(self):
        if self.method not in SOLVERS:
            raise LheDidiError(f"unknown ODE solver {self.method!r}; one of {', '.join(SOLVERS)}")
        if self.method == "rk4" and self.steps is not None and self.steps < 1:
            raise LheDidiError(f"--steps must be at least 1, got {self.steps}")
        if self.method == "dopri5" and not (self.rtol > 0 and self.atol > 0):
            raise LheDidiError("dopri5 tolerances must be positive")
        if self.precision not in PRECISIONS:
            raise LheDidiError(f"unknown network precision {self.precision!r}; one of {', '.join(PRECISIONS)}")

    def for_model(self, config: dict) -> Solver:
        """This solver with ``steps`` filled in from a DiDi model's config where it is None."""
        if self.steps is not None:
            return self
        return replace(self, steps=int(config.get("transform", {}).get("rk4_steps", DEFAULT_RK4_STEPS)))

    def on(self, device: torch.device) -> Solver:
        """This solver with ``precision`` ``auto`` resolved for ``device``."""
        if self.precision != "auto":
            return self
        return replace(self, precision="bfloat16" if native_bfloat16(device) else "float32")

    def solve(self, velocity, z: torch.Tensor) -> torch.Tensor:
        """z(0) from z(1) = ``z`` along dz/dt = velocity(t, z)."""
        if self.method == "rk4" and self.steps is None:
            raise ValueError("rk4 steps not chosen: use Solver.for_model")
        if self.method == "dopri5":
            times = torch.tensor([1.0, 0.0], device=z.device)
            return odeint(velocity, z, times, method="dopri5", rtol=self.rtol, atol=self.atol)[-1]
        grid = torch.linspace(1.0, 0.0, self.steps + 1, device=z.device)  # the fixed steps (rk4 steps over t)
        return odeint(velocity, z, grid, method="rk4")[-1]

    def provenance(self) -> dict:
        """What the output header records about the solve."""
        if self.method == "dopri5":
            described = {"method": "dopri5", "rtol": self.rtol, "atol": self.atol}
        else:
            described = {"method": "rk4", "steps": self.steps, "velocity_evaluations": 4 * self.steps}
        return described | {"network_precision": self.precision}


SOLVERS = ("rk4", "dopri5")
PRECISIONS = ("auto", "float32", "bfloat16")
DEFAULT_RK4_STEPS = 8  # validated for models trained by `train didi` (docs/benchmarks.md, solver choice)


class DidiModel:
    """A loaded, verified DiDi model ready to integrate its velocity field."""

    def __init__(self, directory: str | Path, device: str = "auto", posterior_draw: int | None = None):
        self.directory = Path(directory)
        self.device = resolve_device(device)
        self.network, config = load_network(directory, "didi", VelocityField, self.device)
        for module in self.network.modules():  # inference only (no autograd): activations overwrite their input
            if isinstance(module, torch.nn.SiLU):
                module.inplace = True
        self.config = config
        if posterior_draw is not None:
            if not config["architecture"]["bayesian"]:
                raise LheDidiError(f"{directory}: --posterior-draw needs a Bayesian model; this one is deterministic")
            self.network.freeze_posterior_draw(posterior_draw)
        self.preprocessor = Preprocessor.from_dict(config["preprocessing"])
        self.representation = self.preprocessor.representation
        self.condition = MassCondition.from_dict(config.get("conditions"))
        self.top_mass: float | None = None  # the input's top mass, set before flowing a conditional model
        self.low = np.asarray(config["feature_ranges"]["min"])
        self.high = np.asarray(config["feature_ranges"]["max"])
        self.content_hash = config["content_hash"]
        # this model, then the teachers it was reflowed from (lhe_didi.training.reflow): it reproduces their map
        self.lineage = (self.content_hash, *config.get("reflow", {}).get("lineage", ()))
        self.function_evaluations = 0
        self.solves = 0
        # CPU: solves of a few thousand events keep the activations in cache; CUDA: one solve per chunk
        self.solve_batch = events_per_call(self.device)

    def flow(self, features: np.ndarray, solver: Solver | None = None) -> np.ndarray:
        """Integrate on-shell coordinates (N, D) from t = 1 to t = 0 with ``solver`` (default: :class:`Solver`());
        returns off-shell coordinates.

        The ODE is solved in sub-batches of :attr:`solve_batch` events (None: one solve);
        :attr:`function_evaluations` and :attr:`solves` count the work.
        """
        top = self._top()
        z = torch.as_tensor(self.preprocessor.forward(features, top), dtype=torch.float32, device=self.device)
        return self.preprocessor.inverse(self.flow_standardised(z, solver).double().cpu().numpy(), top)

    def flow_standardised(self, z: torch.Tensor, solver: Solver | None = None) -> torch.Tensor:
        """:meth:`flow` in the network's standardised coordinates (float32 tensor on :attr:`device`)."""
        solver = (solver or Solver()).for_model(self.config).on(self.device)
        top = self._top()
        # the condition is the same for every event: one row, broadcast by the network
        c = None if top is None else torch.as_tensor(self.condition.network_input(np.full(1, self.top_mass)))
        c = None if c is None else c.to(self.device)

        network = BFloat16Field(self.network) if solver.precision == "bfloat16" else self.network

        def velocity(t, x):
            self.function_evaluations += 1
            return network(x, t, c)

        parts = torch.split(z, self.solve_batch or max(len(z), 1))
        self.solves += len(parts) if len(z) else 0
        with torch.no_grad():
            return torch.cat([solver.solve(velocity, part) for part in parts]) if len(z) else z

    def _top(self) -> tuple[float, float] | None:
        """(m_t, Gamma_t) of the input for a mass-conditional model, else None."""
        if self.condition is None:
            return None
        if self.top_mass is None:
            raise LheDidiError(f"{self.directory}: a mass-conditional model needs the input's top mass")
        return self.top_mass, top_width(self.top_mass)

    def unphysical(self, features: np.ndarray) -> np.ndarray:
        """Mask of outputs that are non-finite, have pT <= 0 or leave the training range."""
        return self.representation.unphysical(features, self.low, self.high)


@dataclass
class TransformReport:
    """What a transform did: counts, rejected events and speed."""

    events_in: int = 0
    events_out: int = 0
    unphysical: list[int] = field(default_factory=list)
    skipped_input: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    function_evaluations: int = 0
    solves: int = 0  # ODE solves (one per chunk, or per CPU sub-batch)
    weights: WeightSummary | None = None  # classifier weights, when a classifier was used
    input_parameters: dict = field(default_factory=dict)  # what the input header states (input_check)
    warnings: list[str] = field(default_factory=list)  # parameter mismatches let through, line shape differences
    normalisation: dict = field(default_factory=dict)  # lhe_didi.normalisation.provenance
    line_shape: str = ""  # the input's top line shape against the model's training on-shell sample
    histories: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))  # events per history
    line_shape_counts: LineShape | None = None  # what ``line_shape`` says, as counts
    line_shape_training: dict | None = None  # the model's training line shape it is compared with
    written: WrittenEvents | None = None  # the output and where its events lie

    def extend(self, later: TransformReport) -> None:
        """Add the report of the events that follow in the same input (the next range of a file)."""
        self.events_in += later.events_in
        self.events_out += later.events_out
        self.unphysical += later.unphysical
        self.skipped_input += later.skipped_input
        self.seconds += later.seconds
        self.function_evaluations += later.function_evaluations
        self.solves += later.solves
        self.histories = self.histories + later.histories
        if self.weights is not None:
            self.weights.extend(later.weights)
            self.weights.finish()
        counts = self.line_shape_counts
        counts.below, counts.above, counts.total = (
            counts.below + later.line_shape_counts.below,
            counts.above + later.line_shape_counts.above,
            counts.total + later.line_shape_counts.total,
        )
        self.line_shape, differs = counts.compare(self.line_shape_training)
        self.warnings = [w for w in self.warnings if not w.startswith("line shape:")] + (
            [self.line_shape] if differs else []
        )

    def footer(self) -> str:
        """The closing comments of the output file: counts, rejected and skipped events, weights, line shape."""
        return (
            (
                f"<!-- lhe-didi transform: {self.events_in} events read, {self.events_out} written,"
                f" {len(self.unphysical)} unphysical network outputs not written (input event indices:"
                f" {' '.join(map(str, self.unphysical)) or 'none'}), {len(self.skipped_input)} input events skipped"
                f" without the dileptonic final state -->\n"
            )
            + (f"<!-- lhe-didi transform: {self.weights.line()} -->\n" if self.weights else "")
            + (f"<!-- lhe-didi transform, whole input: {self.line_shape} -->\n")
        )


def transform_batch(
    model: DidiModel,
    batch: EventBatch,
    solver: Solver,
    beam_energies: tuple[float, float],
    neutrino: str = "boost",
    mirrored: np.ndarray | None = None,
) -> tuple[EventBatch, np.ndarray]:
    """Transform one batch; returns the physical events and the indices of unphysical ones.

    ``neutrino``: how pT balance is restored in the particle representation, see
    :func:`lhe_didi.kinematics.event_map.decode` (the decay-chain representation balances exactly).
    ``mirrored``: mask of events mapped as R Phi R with R the beam exchange (:mod:`lhe_didi.kinematics.symmetry`).
    """
    recoil = batch.extra_transverse_momentum
    zero_pt = to_zero_pt_frame(batch.momenta)
    if mirrored is not None:
        zero_pt[mirrored] = beam_exchange(zero_pt[mirrored])
    encoded = model.representation.encode(zero_pt)
    features = model.flow(encoded.features, solver)
    bad = model.unphysical(features)
    safe = np.where(bad[:, None], encoded.features, features)  # placeholder rows, dropped below
    momenta = model.representation.decode(safe, encoded.rotation, batch.masses, neutrino)  # zero-pT frame
    bad |= ~np.all(np.isfinite(momenta), axis=(1, 2))  # below a two-body threshold (decay chain)
    momenta[bad] = zero_pt[bad]  # placeholder rows, dropped below
    if mirrored is not None:
        momenta[mirrored] = beam_exchange(momenta[mirrored])
    out = batch.with_momenta(from_zero_pt_frame(momenta, -recoil))
    out.source_index = batch.index
    bad |= ~momentum_fractions(out.final_state_momentum, beam_energies)[2]
    return out.select(~bad), batch.index[bad]


@dataclass(frozen=True, kw_only=True)
class TransformSettings:
    """How :func:`transform_file` maps events (the ``transform`` command's options)."""

    model_dir: str | Path | None = None  # None: the shipped didi-default
    device: str = "auto"
    batch_size: int | None = None  # events read, flowed and written per chunk; None: runtime.events_per_chunk
    solver: Solver = field(default_factory=Solver)  # how the flow ODE is integrated
    seed: int = 0
    skip_invalid: bool = False  # skip (and count) input events without the dileptonic final state
    posterior_draw: int | None = None  # Bayesian models: the posterior weight draw with this seed
    neutrino: str = "boost"  # pT balance, see the module docstring
    classifier_dir: str | Path | None = None  # None: the shipped classifier when it belongs to the DiDi model
    use_classifier: bool = True
    weights: WeightSettings = field(default_factory=WeightSettings)
    beam_symmetrise: bool = True  # map a seeded half of the events as R Phi R (R: beam exchange)
    allow_parameter_mismatch: bool = False  # warn instead of refusing input made with other parameters
    top_mass: float | None = None  # the input's top mass when its header states none, or in place of it
    top_width: float | None = None  # likewise its top width
    normalisation: str = "input"  # the cross section the output carries (lhe_didi.normalisation)
    histories: str = "projected"  # resonance histories: drawn with POWHEG-BOX-RES's projectors, or "ttbar" for all
    overlap: bool = True  # read the next chunk and write the previous one while the networks work (lhe_didi.pipeline)


def transform_file(
    input_path: str | Path,
    output_path: str | Path,
    settings: TransformSettings | None = None,
    *,
    progress=None,
    models: LoadedModels | None = None,
    events: tuple[int, int] | None = None,
    first_index: int = 0,
    name: str | None = None,
) -> TransformReport:
    """Transform an hvq LHE file into a bb4l-like LHE file; see the module docstring.

    ``progress``: called with the number of input events of each chunk when it is done; ``models``: reuse the
    models loaded by earlier calls (:class:`LoadedModels`), else they are loaded for this call. ``events``: only
    the input events ``(first, count)``, ``first`` a multiple of the batch size: a range of the whole file's run,
    whose header it writes and whose events it writes byte for byte (:func:`lhe_didi.cluster.join_ranges`).
    ``first_index``, ``name``: the input is a piece of the file ``name`` whose first event is that file's event
    ``first_index`` (:mod:`lhe_didi.io.split`); events are numbered, and named in messages, as in that file.
    """
    settings = settings or TransformSettings()
    torch.manual_seed(settings.seed)
    model, classifier = (models or LoadedModels()).get(settings)
    model.top_mass = None
    counted = (model.function_evaluations, model.solves)
    if classifier is not None:
        classifier.check_applies(settings.beam_symmetrise)
    name = name or str(input_path)
    reader = LheReader(input_path, skip_invalid=settings.skip_invalid, first_index=first_index, name=name)
    report = TransformReport()
    physics = model_physics(model.config)
    report.input_parameters = stated_parameters(header_parameters(reader.header), settings.top_mass, settings.top_width)
    report.warnings += check_parameters(report.input_parameters, physics, settings.allow_parameter_mismatch)
    pole = physics.get("top_mass")
    if model.condition is not None:
        if "top_mass" not in report.input_parameters:
            raise LheDidiError(f"{name}: the header states no top mass (qmass); give it with --top-mass")
        pole = model.top_mass = report.input_parameters["top_mass"]
        report.warnings += model.condition.check(
            pole,
            report.input_parameters.get("top_width"),
            report.input_parameters["source"],
            settings.allow_parameter_mismatch,
        )
    if settings.histories not in HISTORY_CHOICES:
        raise LheDidiError(f"unknown resonance-history choice {settings.histories!r}; one of {HISTORY_CHOICES}")
    pole = TOP_MASS if pole is None else pole
    resonance = (pole, top_width(pole) if model.condition is not None else physics.get("top_width", TOP_WIDTH))
    factor = offshell_factor(model.config, model.top_mass)
    if settings.normalisation == "offshell" and factor is None:
        raise LheDidiError(
            f"{model.directory}: the model records no training cross sections; use --normalisation input"
        )
    normalisation = report.normalisation = normalisation_provenance(settings.normalisation, factor)
    scale = settings.normalisation == "offshell"
    header = scaled_header(reader.header, factor) if scale else reader.header
    first_event, count = events or (0, None)
    batch_size = settings.batch_size or events_per_chunk(model.device)
    if (first_index + first_event) % batch_size:
        raise ValueError(f"an event range starts at a multiple of the batch size, not at {first_index + first_event}")
    batches = reader.batches(batch_size, count, start=first_event)
    first = next(batches, None)  # read before the output is opened: bad input leaves no partial file
    training_shape = training_line_shape(physics, pole)
    first_shape = LineShape(pole)
    if first is not None:
        first_shape.add(first.momenta)
    line_shape = replace(first_shape)  # the whole input: the first batch's counts, then every later batch
    provenance = {
        "command": "transform",
        "input": name,
        "model": {
            "directory": str(model.directory),
            "content_hash": model.content_hash,
            **({"reflowed_from": list(model.lineage[1:])} if len(model.lineage) > 1 else {}),
            "trained_on": {
                k: [i["path"] for i in v] if isinstance(v, list) else v["path"] for k, v in model.config["data"].items()
            },
        },
        "condition": None
        if model.condition is None
        else {"top_mass": model.top_mass, "top_width": top_width(model.top_mass)},
        "solver": {
            **settings.solver.for_model(model.config).on(model.device).provenance(),
            "library": "torchdiffeq",
            "from_t": 1.0,
            "to_t": 0.0,
            "device": str(model.device),
            "cpu_threads": torch.get_num_threads() if model.device.type == "cpu" else None,
            "events_per_solve": model.solve_batch or batch_size,
        },
        "seed": settings.seed,
        "posterior_draw": settings.posterior_draw,
        "neutrino": settings.neutrino,
        "beam_symmetrised": settings.beam_symmetrise,
        "classifier": None if classifier is None else settings.weights.provenance(classifier),
        "normalisation": normalisation,
        "resonance_histories": {
            "choice": settings.histories,
            "rule": HISTORY_RULES[settings.histories],
            "top_mass": resonance[0],
            "top_width": resonance[1],
        },
        "note": "each event keeps its input event's POWHEG '#rwgt' line (radiation type) as its first comment",
        "input_check": {
            "input_parameters": report.input_parameters,
            "model_parameters": {k: v for k, v in physics.items() if not k.startswith("onshell_line_shape")},
            "parameter_warnings": list(report.warnings),
            "line_shape_first_batch": first_shape.fractions(),
            "line_shape_training": training_shape,
            "line_shape_check": first_shape.compare(training_shape)[0],
        },
    }
    start = time.perf_counter()
    descriptions = (
        {WEIGHT_ID: settings.weights.description(classifier, settings.beam_symmetrise)} if classifier else None
    )
    if classifier is not None:
        report.weights = WeightSummary()
    with LheWriter(output_path, header, provenance, descriptions) as writer, BackgroundWriter(writer.write) as output:
        write = output.submit if settings.overlap else writer.write
        for batch in read_ahead(_chain(first, batches)) if settings.overlap else _chain(first, batches):
            if batch is not first:
                line_shape.add(batch.momenta)
            mirrored = mirrored_events(batch.index, settings.seed) if settings.beam_symmetrise else None
            out, rejected = transform_batch(
                model, batch, settings.solver, reader.header.beam_energies, settings.neutrino, mirrored
            )
            out.history = (
                assign_histories(out.momenta, *resonance, out.source_index, settings.seed)
                if settings.histories == "projected"
                else np.full(len(out), TTBAR, dtype=np.int8)
            )
            report.histories += np.bincount(out.history, minlength=3)
            if scale:
                out = scaled_events(out, factor)
            if classifier is None:
                write(out)
            else:
                weights = classifier.weights(
                    out.momenta,
                    settings.weights.clip,
                    mirrored_events(out.source_index, settings.seed) if settings.beam_symmetrise else None,
                    model.top_mass,
                )
                report.weights.add(weights, settings.weights.clip)
                write(apply_weights(out, weights, settings.weights.multiply_nominal), {WEIGHT_ID: weights})
            report.events_in += len(batch)
            report.events_out += len(out)
            report.unphysical.extend(int(i) for i in rejected)
            if progress is not None:
                progress(len(batch))
        report.skipped_input = list(reader.skipped)
        report.line_shape_counts, report.line_shape_training = line_shape, training_shape
        report.line_shape, differs = line_shape.compare(training_shape)
        if differs:
            report.warnings.append(report.line_shape)
        if report.weights is not None:
            report.weights.finish()
        writer.footer = report.footer()
    report.written = WrittenEvents(Path(output_path), writer.event_bytes, report.events_out)
    report.seconds = time.perf_counter() - start
    report.function_evaluations = model.function_evaluations - counted[0]
    report.solves = model.solves - counted[1]
    return report


class LoadedModels:
    """The DiDi model and classifier of the last settings asked for, loaded and verified once and reused while the
    settings name the same ones (one per worker process of a cluster run; not shared between threads)."""

    def __init__(self):
        self._key = None
        self._models: tuple[DidiModel, object] | None = None

    def get(self, settings: TransformSettings):
        key = (
            settings.model_dir,
            settings.device,
            settings.posterior_draw,
            settings.use_classifier,
            settings.classifier_dir,
        )
        if key != self._key:
            model = DidiModel(settings.model_dir or DEFAULT_MODEL, settings.device, settings.posterior_draw)
            classifier = (
                resolve_classifier(settings.classifier_dir, model.lineage, settings.device)
                if settings.use_classifier
                else None
            )
            self._key, self._models = key, (model, classifier)
        return self._models


def stated_parameters(stated: dict, top_mass: float | None, top_width_given: float | None) -> dict:
    """The header's parameters with the user's --top-mass / --top-width in place of (or in addition to) them."""
    given = {k: v for k, v in (("top_mass", top_mass), ("top_width", top_width_given)) if v is not None}
    if not given:
        return stated
    source = (
        "--top-mass/--top-width"
        if stated.get("source", "").startswith("none")
        else f"{stated['source']}, with --top-mass/--top-width"
    )
    if top_mass is not None and top_width_given is None and "top_width" in stated:
        stated = {k: v for k, v in stated.items() if k != "top_width"}  # a new mass without a width: the rule's
    return {**stated, **given, "source": source}


def _chain(first: EventBatch | None, rest):
    """The batch read ahead, then the remaining ones."""
    if first is not None:
        yield first
    yield from rest
