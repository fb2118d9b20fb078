"""Command-line interface: ``lhe-didi inspect | transform | train``."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from . import __version__
from .errors import LheDidiError


class _Cli(click.Group):
    """Turns user-fixable errors into a one-line ``Error: ...`` message and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LheDidiError as exc:
            raise click.ClickException(str(exc).replace("\n", " ")) from None


def _progress(description: str):
    """An events/s progress bar on stderr; silent when stderr is not a terminal."""
    return tqdm(desc=description, unit=" ev", unit_scale=True, disable=None, leave=False)


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="lhe-didi")
def main():
    """Add full off-shell effects to POWHEG hvq top-pair events (Direct Diffusion).

    Reads Les Houches event files of pp -> t t~ -> b l+ nu b~ l- nu~, maps them
    with a trained velocity field onto the off-shell phase space and writes
    bb4l-like events.
    """


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Skip events without the dileptonic final state (counted) instead of failing.")
def inspect(file: Path, skip_invalid: bool):
    """Summarise an LHE FILE: events, cross section, content, mass peaks."""
    from .inspect import format_summary, summarize
    from .io.reader import LheReader

    reader = LheReader(file, skip_invalid=skip_invalid)
    with _progress("reading") as bar:
        summary = summarize(reader, progress=bar.update)
    click.echo(format_summary(summary))


@main.command()
@click.argument("sample", type=click.Choice(["onshell", "offshell"]))
@click.option("-n", "--events", "n_events", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same file.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Output LHE file (.lhe or .lhe.gz).")
@click.option("--leptons", nargs=2, type=click.Choice(["e+", "mu+", "ta+", "e-", "mu-", "ta-"]), default=("e+", "mu-"),
              show_default=True, help="Charged leptons: positive then negative.")
def generate(sample, n_events, seed, output, leptons):
    """Generate LO reference events: SAMPLE is onshell (hvq-like) or offshell (bb4l-like).

    Matrix elements are built with pyamplicol on first use (about two minutes)
    and cached in $LHE_DIDI_CACHE (default ~/.cache/lhe-didi).
    """
    from .reference.generator import ReferenceGenerator
    from .reference.output import write_sample

    if not leptons[0].endswith("+") or not leptons[1].endswith("-"):
        raise click.BadParameter("give the positive lepton first, e.g. --leptons e+ mu-", param_hint="--leptons")
    click.echo(f"setting up {sample} generator (pyamplicol matrix elements, first use builds them)...", err=True)
    generator = ReferenceGenerator(sample, leptons=tuple(leptons), seed=seed)
    generator.adapt()
    with tqdm(total=n_events, desc=f"generating {sample}", unit=" ev", unit_scale=True, disable=None, leave=False) as bar:
        events = generator.generate(n_events, progress=bar.update)
    write_sample(generator, events, output)
    s = generator.stats
    click.echo(
        f"wrote {len(events)} events to {output}: sigma = {s.cross_section:.5g} +- {s.cross_section_error:.2g} pb, "
        f"unweighting efficiency {100 * s.efficiency:.2f}%, {s.overweight_events} events above the maximum weight "
        f"({100 * s.overweight_fraction:.2f}% of sigma, kept with weight w/w_max), {len(events) / s.seconds:.0f} events/s"
    )


@main.command()
@click.argument("input_file", metavar="IN", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Output LHE file (.lhe or .lhe.gz).")
@click.option("--model", type=click.Path(path_type=Path), help="Model directory (default: the shipped model).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--batch-size", type=int, default=50_000, show_default=True)
@click.option("--rtol", type=float, default=1e-5, show_default=True, help="dopri5 relative tolerance.")
@click.option("--atol", type=float, default=1e-5, show_default=True, help="dopri5 absolute tolerance.")
@click.option("--seed", type=int, default=0, show_default=True)
def transform(input_file, output, model, device, batch_size, rtol, atol, seed):
    """Map on-shell hvq events in IN to off-shell (bb4l-like) events in OUTPUT."""
    raise click.ClickException(
        "transform is not available yet: this version ships no trained Direct Diffusion model"
    )


@main.command()
@click.argument("onshell", type=click.Path(path_type=Path))
@click.argument("offshell", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Model directory to create.")
def train(onshell, offshell, output):
    """Train a Direct Diffusion model from ONSHELL and OFFSHELL event files."""
    raise click.ClickException("train is not available yet in this version of lhe-didi")
