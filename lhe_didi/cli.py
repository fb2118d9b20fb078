"""Command-line interface: ``lhe-didi inspect | generate | transform | reweight | train | validate``."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from . import __version__
from .errors import LheDidiError
from .extras import require
from .shipped import resolve_model


class _Cli(click.Group):
    """Turns user-fixable errors into a one-line ``Error: ...`` message and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LheDidiError as exc:
            raise click.ClickException(str(exc).replace("\n", " ")) from None


class _LogProgress:
    """Progress for batch jobs (stderr not a terminal): one plain line every ``interval`` seconds."""

    def __init__(self, description: str, total: int | None = None, interval: float = 30.0):
        self.description, self.total, self.interval = description, total, interval
        self.count = 0
        self.start = self.last = time.perf_counter()

    def update(self, n: int) -> None:
        self.count += n
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            of = f"/{self.total}" if self.total else ""
            click.echo(
                f"{self.description}: {self.count}{of} events, {self.count / (now - self.start):.0f}/s", err=True
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _progress(description: str, total: int | None = None):
    """An events/s progress bar on a terminal, periodic log lines otherwise."""
    if sys.stderr.isatty():
        return tqdm(desc=description, total=total, unit=" ev", unit_scale=True, leave=False)
    return _LogProgress(description, total)


def exit_on_sigterm() -> None:
    """Turn SIGTERM (batch-system time limits, ``kill``) into SystemExit(143), so that outputs being written are
    discarded as on Ctrl-C instead of leaving their temporary files behind."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="lhe-didi")
def main():
    """Add full off-shell effects to POWHEG hvq top-pair events (Direct Diffusion).

    Reads Les Houches event files of pp -> t t~ -> b l+ nu b~ l- nu~, maps them
    with a trained velocity field onto the off-shell phase space and writes
    bb4l-like events.
    """
    exit_on_sigterm()


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--skip-invalid", is_flag=True, help="Skip events without the dileptonic final state (counted) instead of failing."
)
def inspect(file: Path, skip_invalid: bool):
    """Summarise an LHE FILE: events, cross section, content, mass peaks."""
    from .inspect import format_summary, summarize
    from .io.reader import LheReader

    reader = LheReader(file, skip_invalid=skip_invalid)
    with _progress("reading") as bar:
        summary = summarize(reader, progress=bar.update)
    click.echo(format_summary(summary))


@main.command()
@click.argument("sample", type=click.Choice(["onshell", "offshell", "doubly-resonant"]))
@click.option("-n", "--events", "n_events", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same file.")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="Output LHE file (.lhe or .lhe.gz)."
)
@click.option(
    "--leptons",
    nargs=2,
    type=click.Choice(["e+", "mu+", "ta+", "e-", "mu-", "ta-"]),
    default=("e+", "mu-"),
    show_default=True,
    help="Charged leptons: positive then negative.",
)
@click.option(
    "--tail-bias",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    metavar="PT0",
    help="Weighted events enriched in the high-pT tails: sample dsigma x (1 + (pT_top,max / PT0)^2) and "
    "weight each event by the inverse (like POWHEG's bornsuppfact). GeV; default: unit weights.",
)
@click.option(
    "--top-mass",
    type=float,
    default=172.5,
    show_default=True,
    metavar="GEV",
    help="Top-quark pole mass; mu_R = mu_F follow it.",
)
@click.option(
    "--top-width",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    metavar="GEV",
    help="Top width [default: 1.453 GeV x Gamma_LO(m_t) / Gamma_LO(172.5), as POWHEG hvq samples at other "
    "masses are made].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run the shards on a local Dask cluster of this many worker processes (the 'cluster' extra).",
)
@click.option("--scheduler", metavar="ADDRESS", help="Run the shards on a running Dask cluster instead.")
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    help="Split the run into this many independent runs with seeds derived from --seed, merged in order (the file"
    " depends on the seed and the number of shards) [default: the number of workers].",
)
def generate(sample, n_events, seed, output, leptons, tail_bias, top_mass, top_width, workers, scheduler, shards):
    """Generate LO reference events: SAMPLE is onshell (as POWHEG hvq makes them), offshell (bb4l-like) or
    doubly-resonant (the exact t t~ diagrams inside hvq's window).

    Matrix elements are built with pyamplicol on first use (about two minutes)
    and cached in $LHE_DIDI_CACHE (default ~/.cache/lhe-didi). With --tail-bias the
    events are weighted: every distribution is the unbiased one when the weights are used.
    """
    require("generate", "lhe-didi generate")
    import numpy as np

    from .reference.parameters import TOP_MASS_RANGE
    from .reference.run import GenerateSettings, generate_sharded

    if not leptons[0].endswith("+") or not leptons[1].endswith("-"):
        raise click.BadParameter("give the positive lepton first, e.g. --leptons e+ mu-", param_hint="--leptons")
    if sample == "onshell" and tail_bias is not None:
        raise click.BadParameter(
            "hvq-like on-shell events are unweighted; --tail-bias works with offshell and doubly-resonant",
            param_hint="--tail-bias",
        )
    low, high = TOP_MASS_RANGE
    if not low <= top_mass <= high:
        raise click.BadParameter(f"{top_mass:g} GeV is outside {low:g}-{high:g} GeV", param_hint="--top-mass")
    shards = shards or workers
    where = "" if shards == 1 else f" in {shards} shards on {scheduler or f'{workers} worker(s)'}"
    click.echo(f"setting up {sample} generator{where} (pyamplicol matrix elements, first use builds them)...", err=True)
    settings = GenerateSettings(sample, tuple(leptons), tail_bias, top_mass, top_width)
    with _progress(f"generating {sample}", n_events) as bar:
        runs = generate_sharded(
            settings, n_events, seed, output, shards=shards, workers=workers, scheduler=scheduler, progress=bar.update
        )
    events = sum(r.events for r in runs)
    if len(runs) == 1:
        r = runs[0]
        sigma = f"sigma = {r.cross_section:.5g} +- {r.cross_section_error:.2g} pb"
    else:
        from .io.reader import LheReader

        x, e, _ = LheReader(output).header.cross_sections[0]
        sigma = f"sigma = {x:.5g} +- {e:.2g} pb (inverse-variance mean of {len(runs)} shards)"
    click.echo(
        f"wrote {events} events to {output}: {sigma}, unweighting efficiency"
        f" {100 * np.mean([r.efficiency for r in runs]):.2f}%, {sum(r.overweight_events for r in runs)} events above"
        f" the maximum weight ({100 * np.mean([r.overweight_fraction for r in runs]):.2f}% of sigma, kept with weight"
        f" w/w_max), {events / sum(r.seconds for r in runs):.0f} events/s per process"
    )


def _set_threads(ctx, param, value):
    if value is not None:
        import torch

        torch.set_num_threads(value)


_threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    callback=_set_threads,
    expose_value=False,
    is_eager=True,
    help="CPU threads of the network (default: torch's choice, one per core). On a machine shared with other jobs give "
    "the cores that are free: oversubscribed threads slow the solve many times over.",
)


def _weight_options(command):
    """Options shared by transform and reweight: clipping and whether XWGTUP is multiplied."""
    command = click.option(
        "--multiply-nominal/--keep-nominal",
        default=False,
        show_default=True,
        help="Also multiply XWGTUP (and carried-over named weights) by the classifier weight.",
    )(command)
    command = click.option("--no-weight-clip", is_flag=True, help="Do not cap the classifier weight.")(command)
    return click.option(
        "--weight-clip",
        type=click.FloatRange(min=0.0, min_open=True),
        default=15.0,
        show_default=True,
        help="Cap of the classifier weight w = C/(1 - C).",
    )(command)


@main.command()
@click.argument("inputs", metavar="IN [IN ...]", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Output LHE file (.lhe or .lhe.gz); with several inputs or --scheduler a directory, one output per input "
    "(same name).",
)
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    help="Model directory, or the name of a shipped one: didi-default (the default), didi-reflow (its reflowed"
    " student: 4 rk4 steps, twice the flow speed; precision in its model card).",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Events read, transformed and written at a time (one ODE solve on a GPU) [default: 10 000 on CPU, 50 000 on"
    " a GPU].",
)
@click.option(
    "--solver",
    type=click.Choice(["rk4", "dopri5"]),
    default="rk4",
    show_default=True,
    help="ODE solver of the flow: fixed-step rk4 (--steps) or adaptive dopri5 (--rtol, --atol).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    help="rk4 steps (4 velocity evaluations each) [default: the number the model was validated with; 8 for models"
    " that state none].",
)
@click.option("--rtol", type=float, default=1e-5, show_default=True, help="dopri5 relative tolerance.")
@click.option("--atol", type=float, default=1e-5, show_default=True, help="dopri5 absolute tolerance.")
@click.option(
    "--network-precision",
    type=click.Choice(["auto", "float32", "bfloat16"]),
    default="auto",
    show_default=True,
    help="Arithmetic of the velocity network (the ODE state stays float32). auto: bfloat16 where the device"
    " multiplies it in hardware (CPUs with AMX or AVX512-BF16, GPUs from Ampere on), else float32. The header"
    " records the choice; both are validated (docs/benchmarks.md).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--skip-invalid", is_flag=True, help="Skip input events without the dileptonic final state (counted).")
@click.option(
    "--posterior-draw", type=int, help="Bayesian models: use posterior weight draw K (seed) instead of the means."
)
@click.option(
    "--neutrino",
    type=click.Choice(["boost", "balance"]),
    default="boost",
    show_default=True,
    help="pT balance: boost the system keeping the network's nu~ (masses exact) or rebuild nu~ (paper).",
)
@_weight_options
@click.option(
    "--classifier",
    type=click.Path(path_type=Path),
    help="Classifier directory (default: the shipped models/classifier-default when it belongs to the DiDi model).",
)
@click.option("--no-classifier", is_flag=True, help="Do not attach classifier weights.")
@click.option(
    "--beam-symmetrise/--no-beam-symmetrise",
    default=True,
    show_default=True,
    help="Map a seeded half of the events with the beams exchanged, so that the output is symmetric "
    "under beam exchange as pp collisions are (each event keeps the classifier weight of the network's own output).",
)
@click.option(
    "--allow-parameter-mismatch",
    is_flag=True,
    help="Transform input whose header states a top mass/width, W mass or b mass other than the model's "
    "training values (refused otherwise), with a warning.",
)
@click.option(
    "--top-mass",
    type=click.FloatRange(min=0.0, min_open=True),
    metavar="GEV",
    help="The input's top mass when its header states none (qmass), or in place of it.",
)
@click.option(
    "--top-width",
    type=click.FloatRange(min=0.0, min_open=True),
    metavar="GEV",
    help="The input's top width when its header states none (tdec/twidth), or in place of it.",
)
@click.option(
    "--normalisation",
    type=click.Choice(["input", "offshell"]),
    default="input",
    show_default=True,
    help="Cross section the output carries in <init> and XWGTUP: the input's, or scaled by the model's "
    "sigma_off/sigma_on (its LO training reference at the input's mass). The header records the choice and the factor.",
)
@click.option(
    "--histories",
    type=click.Choice(["projected", "ttbar"]),
    default="projected",
    show_default=True,
    help="Resonance history of each event: t t~, t W- or t~ W+ drawn as POWHEG-BOX-RES (bb4l) draws them, from the "
    "top virtualities, so that a shower keeps only the tops that are resonances; or t t~ for every event (as hvq).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Transform on a local Dask cluster of this many worker processes, one thread each (the 'cluster' extra):"
    " the input files, large ones cut into ranges of whole batches, with the same output as one process; 1: one"
    " file after the other in this process.",
)
@click.option("--scheduler", metavar="ADDRESS", help="Use a running Dask cluster (e.g. dask-jobqueue) instead.")
@click.option(
    "--overlap/--no-overlap",
    default=True,
    show_default=True,
    help="Read the next chunk and write the previous one in background threads while the networks work.",
)
@_threads_option
def transform(
    inputs,
    output,
    model,
    device,
    batch_size,
    solver,
    steps,
    rtol,
    atol,
    network_precision,
    seed,
    skip_invalid,
    posterior_draw,
    neutrino,
    weight_clip,
    no_weight_clip,
    multiply_nominal,
    classifier,
    no_classifier,
    beam_symmetrise,
    allow_parameter_mismatch,
    top_mass,
    top_width,
    normalisation,
    histories,
    overlap,
    workers,
    scheduler,
):
    """Map on-shell hvq events in IN to off-shell (bb4l-like) events in OUTPUT (several inputs: files of the same
    names in the directory OUTPUT, one after the other or on a Dask cluster with --workers/--scheduler).

    Events keep their order; network outputs that are not physical are not
    written and are listed (count and input indices) on stderr and at the end
    of OUTPUT. With a classifier, each event carries the named weight
    'didi_classifier' = C/(1 - C) (see the header's <initrwgt>).
    """
    from .reweight import WeightSettings
    from .transform import Solver, TransformSettings, transform_file

    if classifier is not None and no_classifier:
        raise click.UsageError("--classifier and --no-classifier exclude each other")
    settings = TransformSettings(
        model_dir=resolve_model(model),
        device=device,
        batch_size=batch_size,
        solver=Solver(solver, steps, rtol, atol, network_precision),
        seed=seed,
        skip_invalid=skip_invalid,
        posterior_draw=posterior_draw,
        neutrino=neutrino,
        classifier_dir=classifier,
        use_classifier=not no_classifier,
        weights=WeightSettings(None if no_weight_clip else weight_clip, multiply_nominal),
        beam_symmetrise=beam_symmetrise,
        allow_parameter_mismatch=allow_parameter_mismatch,
        top_mass=top_mass,
        top_width=top_width,
        normalisation=normalisation,
        histories=histories,
        overlap=overlap,
    )
    if len(inputs) == 1 and scheduler is None:
        with _progress("transforming") as bar:
            if workers == 1:
                report = transform_file(inputs[0], output, settings, progress=bar.update)
            else:  # the file in ranges over the workers, joined into OUTPUT
                from .cluster import transform_to

                report = transform_to(inputs, [output], settings, workers=workers, progress=bar.update)[0]
        _transform_summary(report, output, solver, histories)
        return
    from .cluster import transform_files

    with _progress("transforming") as bar:
        reports = transform_files(
            list(inputs), output, settings, workers=workers, scheduler=scheduler, progress=bar.update
        )
    for source, report in zip(inputs, reports, strict=True):
        click.echo(f"{source}:")
        _transform_summary(report, output / source.name, solver, histories)


def _transform_summary(report, output, solver: str, histories: str) -> None:
    from .kinematics.histories import history_line
    from .normalisation import normalisation_line

    rate = report.events_in / max(report.seconds, 1e-9)
    click.echo(
        f"wrote {report.events_out} of {report.events_in} events to {output} ({rate:.0f} events/s,"
        f" {report.function_evaluations / max(report.solves, 1):.0f} velocity evaluations per ODE solve, {solver})"
    )
    if report.weights is not None:
        click.echo(report.weights.line())
    click.echo(f"input {report.line_shape}")
    click.echo(normalisation_line(report.normalisation))
    click.echo(f"resonance histories ({histories}): {history_line(report.histories)}")
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if report.unphysical:
        shown = " ".join(map(str, report.unphysical[:20])) + (" ..." if len(report.unphysical) > 20 else "")
        click.echo(f"{len(report.unphysical)} unphysical network outputs not written (input events {shown})", err=True)
    if report.skipped_input:
        click.echo(f"{len(report.skipped_input)} input events skipped without the dileptonic final state", err=True)


@main.command()
@click.argument("input_file", metavar="IN", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="Output LHE file (.lhe or .lhe.gz)."
)
@click.option(
    "--classifier",
    type=click.Path(path_type=Path),
    help="Classifier directory (default: the shipped one, if it belongs to the DiDi model that made IN).",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@_weight_options
@_threads_option
def reweight(input_file, output, classifier, device, weight_clip, no_weight_clip, multiply_nominal):
    """Attach classifier weights to the DiDi events in IN (kinematics unchanged), writing OUTPUT."""
    from .reweight import WeightSettings, reweight_file

    settings = WeightSettings(None if no_weight_clip else weight_clip, multiply_nominal)
    with _progress("reweighting") as bar:
        summary = reweight_file(input_file, output, classifier, settings, device, progress=bar.update)
    click.echo(
        f"wrote {summary.count} events to {output} ({summary.count / max(summary.seconds, 1e-9):.0f} events/s);"
        f" {summary.line()}"
    )


class _TrainGroup(click.Group):
    """``lhe-didi train ON OFF ...`` (no sub-command named) means ``lhe-didi train didi ON OFF ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["didi", *args]
        return super().parse_args(ctx, args)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="Merged LHE file (.lhe or .lhe.gz)."
)
def merge(inputs, output):
    """Concatenate LHE files of one process (independent runs, e.g. two generate seeds) into OUTPUT.

    The <init> cross section becomes the inverse-variance weighted mean of the runs.
    """
    from .io.merge import merge_files

    with _progress("merging") as bar:
        report = merge_files(list(inputs), output, progress=bar.update)
    sigma = ", ".join(f"{x:.6g} +- {e:.2g} pb (process {p})" for x, e, p in report.cross_sections)
    click.echo(f"wrote {sum(report.events)} events ({' + '.join(map(str, report.events))}) to {output}: {sigma}")


@main.group(cls=_TrainGroup)
def train():
    """Train models: `train didi ON OFF` (the default when no sub-command is named),
    `train classifier TRUTH GENERATED` or `train reflow TEACHER ON [ON ...]`."""


def _pairs(files: tuple[Path, ...], first: str, second: str) -> tuple[list[Path], list[Path]]:
    """FILES given as FIRST SECOND [FIRST SECOND ...] -> the two lists."""
    if len(files) < 2 or len(files) % 2:
        raise click.UsageError(f"give the files in pairs: {first} {second} [{first} {second} ...]")
    return list(files[0::2]), list(files[1::2])


_condition_option = click.option(
    "--condition-on-mass",
    is_flag=True,
    help="Train one model for every top mass: the file pairs are at two or more masses (read from the headers), and "
    "the mass becomes a network input (widths must follow the hvq rule, see docs/mass-conditional.md).",
)


def _didi_run_options(command):
    """Options `train didi` and `train reflow` share: data use, seed, device, resuming, threads."""
    for option in reversed(
        (
            click.option(
                "--max-events", type=click.IntRange(min=10), help="Use at most this many events of each file."
            ),
            click.option(
                "--validation-fraction",
                type=click.FloatRange(0.0, 0.5, min_open=True),
                default=0.1,
                show_default=True,
            ),
            click.option("--seed", type=int, default=0, show_default=True),
            click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
            click.option("--resume", is_flag=True, help="Continue from OUTPUT.checkpoint/ of an interrupted run."),
            _threads_option,
        )
    ):
        command = option(command)
    return command


@train.command("didi")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="ON OFF [ON OFF ...]")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Model directory to create.")
@_condition_option
@click.option("--epochs", type=click.IntRange(min=1), default=150, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=4096, show_default=True)
@click.option("--width", type=click.IntRange(min=1), default=256, show_default=True, help="Hidden layer width.")
@click.option("--depth", type=click.IntRange(min=1), default=4, show_default=True, help="Number of hidden layers.")
@click.option(
    "--embedding", type=click.IntRange(min=2), default=64, show_default=True, help="Time embedding dimension."
)
@click.option("--bayesian/--deterministic", default=False, show_default=True, help="Mean-field Gaussian weights.")
@click.option("--kl-scale", type=float, default=1e-3, show_default=True, help="c in L = L_CFM + c KL / N_train.")
@click.option("--prior-width", type=float, default=1.0, show_default=True)
@click.option("--lr", type=float, default=2e-4, show_default=True, help="OneCycle starting learning rate.")
@click.option("--max-lr", type=float, default=2e-3, show_default=True, help="OneCycle peak learning rate.")
@click.option(
    "--representation",
    type=click.Choice(["decay-chain", "decay-chain-beams", "particles"]),
    default="decay-chain-beams",
    show_default=True,
    help="Network coordinates: top kinematics, resonance masses and decay angles, the b direction about the"
    " two beams (decay-chain-beams) or about the top's flight (decay-chain), or"
    " (pT, eta, phi) of the six particles (method paper).",
)
@click.option(
    "--breit-wigner-scale",
    type=click.Choice(["width", "half-width"]),
    default=None,
    show_default="half-width for decay-chain coordinates",
    help="Decay-chain coordinates: flatten m_t and m_W as asinh((m - M)/(Gamma/2)) (half-width; a Breit-Wigner"
    " peak becomes a smooth 1/cosh) or asinh((m - M)/Gamma) (width).",
)
@click.option(
    "--coupling",
    type=click.Choice(["independent", "ot"]),
    default="independent",
    show_default=True,
    help="How training pairs are drawn: independently (paper Eq. 8) or by mini-batch optimal transport.",
)
@click.option(
    "--ot-block",
    type=click.IntRange(min=2),
    default=256,
    show_default=True,
    help="Events per exact optimal-transport assignment (--coupling ot).",
)
@_didi_run_options
def train_didi_command(files, output, resume, condition_on_mass, **options):
    """Train a Direct Diffusion model mapping on-shell (ON) events to off-shell (OFF) events.

    The files are LHE files (real hvq output or `lhe-didi generate` samples); several ON OFF pairs, one per top
    mass, with --condition-on-mass.
    """
    from .training.didi import DidiSettings, train_didi

    onshell, offshell = _pairs(files, "ON", "OFF")
    if not condition_on_mass:
        onshell, offshell = (
            onshell[0] if len(onshell) == 1 else onshell,
            offshell[0] if len(offshell) == 1 else offshell,
        )
    result = train_didi(
        onshell, offshell, output, DidiSettings(**options), resume=resume, condition_on_mass=condition_on_mass
    )
    last = result["history"][-1] if result["history"] else {}
    click.echo(
        f"wrote model {output} (content hash {result['content_hash'][:16]}): final train loss"
        f" {last.get('train_loss') or float('nan'):.5f},"
        f" validation loss {result['history'][0]['validation_loss']:.5f} untrained"
        f" -> {last.get('validation_loss', float('nan')):.5f}"
    )


@train.command("reflow")
@click.argument("teacher", type=click.Path(path_type=Path))
@click.argument("onshell", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="ON [ON ...]")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Model directory to create.")
@click.option("--epochs", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=4096, show_default=True)
@click.option("--lr", type=float, default=2e-5, show_default=True, help="OneCycle starting learning rate.")
@click.option("--max-lr", type=float, default=5e-4, show_default=True, help="OneCycle peak learning rate.")
@click.option(
    "--transform-steps",
    type=click.IntRange(min=1),
    help="rk4 steps `transform` uses for the student by default (check them with `validate` first) [default: 8].",
)
@click.option(
    "--start-from",
    type=click.Path(path_type=Path),
    help="Continue training a finished student of TEACHER (its weights instead of the teacher's).",
)
@_didi_run_options
def train_reflow_command(teacher, onshell, output, resume, transform_steps, start_from, **options):
    """Straighten the paths of the DiDi model TEACHER (reflow): a student started from its weights learns the
    teacher's own map of the on-shell events ON, so that `transform --steps` can be smaller at the same precision.

    A mass-conditional teacher needs an ON file at each of its trained masses (generate onshell --top-mass).
    """
    from .training.didi import DidiSettings
    from .training.reflow import train_reflow

    result = train_reflow(
        teacher,
        list(onshell),
        output,
        DidiSettings(**options),
        resume=resume,
        transform_steps=transform_steps,
        start_from=start_from,
    )
    first, last = result["history"][0], result["history"][-1]
    click.echo(
        f"wrote model {output} (content hash {result['content_hash'][:16]}): validation loss"
        f" {first['validation_loss']:.5f} as the teacher -> {last['validation_loss']:.5f}"
    )


@train.command("classifier")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="TRUTH GENERATED [TRUTH GENERATED ...]"
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Model directory to create.")
@_condition_option
@click.option(
    "--epochs", type=click.IntRange(min=1), default=100, show_default=True, help="Upper limit (early stopping)."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4096, show_default=True)
@click.option(
    "--width", type=click.IntRange(min=1), default=256, show_default=True, help="Hidden layer width (paper: 512)."
)
@click.option("--depth", type=click.IntRange(min=1), default=5, show_default=True, help="Number of hidden layers.")
@click.option("--dropout", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.1, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam starting learning rate.")
@click.option(
    "--lr-patience",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Epochs without validation improvement before the learning rate drops.",
)
@click.option(
    "--lr-factor", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.1, show_default=True
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Early stopping: epochs without validation improvement.",
)
@click.option("--max-events", type=click.IntRange(min=10), help="Use at most this many events of each file.")
@click.option("--validation-fraction", type=click.FloatRange(0.0, 0.5, min_open=True), default=0.2, show_default=True)
@click.option(
    "--beam-augment/--no-beam-augment",
    default=None,
    help="Use each event as itself or beam-exchanged at random (both samples are then symmetric; "
    "default: on when GENERATED is beam-symmetrised DiDi output, refused for plain output).",
)
@click.option(
    "--members",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train this many networks (seeds SEED, SEED+1, ...) on one split; the weight is their mean (ensemble).",
)
@click.option(
    "--tail-emphasis",
    type=click.FloatRange(min=1.0),
    default=1.0,
    show_default=True,
    help="Weight the loss of events in truth's hardest 1% (largest pT) by up to this factor, both classes "
    "alike (the optimal weight is unchanged); 1: off.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@_threads_option
def train_classifier_command(files, output, condition_on_mass, **options):
    """Train the classifier C(x) telling off-shell TRUTH from GENERATED (DiDi) events.

    Its weight w = C/(1 - C) reweights generated events onto the truth
    (`transform --classifier`, `reweight`). Several pairs, one per top mass, with --condition-on-mass.
    """
    from .training.classifier import ClassifierSettings, train_classifier

    truth, generated = _pairs(files, "TRUTH", "GENERATED")
    if not condition_on_mass:
        truth, generated = truth[0] if len(truth) == 1 else truth, generated[0] if len(generated) == 1 else generated
    result = train_classifier(
        truth, generated, output, ClassifierSettings(**options), condition_on_mass=condition_on_mass
    )
    runs = "; ".join(
        f"seed {m['seed']} best epoch {m['best_epoch']} of {len(m['history']) - 1}, validation loss"
        f" {m['history'][0]['validation_loss']:.5f} untrained -> {m['history'][m['best_epoch']]['validation_loss']:.5f}"
        for m in result["members"]
    )
    click.echo(
        f"wrote classifier {output} (content hash {result['content_hash'][:16]}): {runs}; "
        f"AUC {result['validation_auc']:.4f}"
    )


@main.command()
@click.option(
    "--onshell", type=click.Path(path_type=Path), required=True, help="On-shell sample the DiDi input came from."
)
@click.option("--offshell", type=click.Path(path_type=Path), required=True, help="Off-shell truth.")
@click.option("--generated", type=click.Path(path_type=Path), required=True, help="DiDi output (lhe-didi transform).")
@click.option(
    "--weights", "use_weights", is_flag=True, help="Also show DiDi reweighted with its 'didi_classifier' weights."
)
@click.option(
    "--posterior",
    type=click.Path(path_type=Path),
    multiple=True,
    help="DiDi output of a Bayesian posterior draw (transform --posterior-draw K); two or more give a band.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Report directory.")
@click.option("--max-events", type=click.IntRange(min=100), help="Use at most this many events of each file.")
@click.option("--auc/--no-auc", default=True, show_default=True, help="Train fresh two-sample classifiers for the AUC.")
@click.option(
    "--auc-events",
    type=click.IntRange(min=100),
    default=200_000,
    show_default=True,
    help="Events per sample for each two-sample classifier.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@_threads_option
def validate(onshell, offshell, generated, use_weights, posterior, output, max_events, auc, auc_events, seed):
    """Compare on-shell, off-shell truth, DiDi and reweighted DiDi: figures, metrics.json, index.html."""
    require("validate", "lhe-didi validate")
    from .validation.far_tails import far_tail_lines
    from .validation.report import auc_lines, build_report, tolerance_lines

    with _progress("reading") as bar:
        metrics = build_report(
            onshell,
            offshell,
            generated,
            output,
            use_weights,
            tuple(posterior),
            max_events,
            auc,
            auc_events,
            seed,
            progress=bar.update,
        )
    for key, entry in metrics["summary"].items():
        click.echo(f"{key.replace('_', ' ')}: {100 * entry['value']:.1f}% ({entry['observable']})")
    for line in tolerance_lines(metrics) + far_tail_lines(metrics["far_tails"]):
        click.echo(line)
    if "weights" in metrics:
        w = metrics["weights"]
        click.echo(
            f"classifier weights: mean {w['mean']:.4f}, {w['at_clip']} at the clip, effective sample"
            f" {100 * w['effective_sample_fraction']:.1f}% of the events"
        )
    for line in auc_lines(metrics):
        click.echo(line)
    click.echo(
        f"wrote {output}/index.html, metrics.json and {sum(len(v) for v in metrics['figures'].values())} figure files"
    )
