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
