"""One ``generate`` run, and a run split into shards on a Dask cluster (the ``cluster`` extra).

A sharded run of N events in K shards is K independent runs (own adaptation, own cross-section estimate) of
N // K or N // K + 1 events with seeds derived from (seed, shard), merged in shard order by the ``merge`` rules
(:func:`lhe_didi.io.merge.merge_files`: the ``<init>`` cross section is their inverse-variance weighted mean); each
shard's events are copied as written, gzip members and all, without decompressing. So the
file depends on the seed and the number of shards, not on the number of workers or which worker ran which shard;
one shard is the plain run with the seed itself. The matrix elements run without Symbolica
(:func:`lhe_didi.reference.matrix_elements.runtime_class`), so any number of shards run at once.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LheDidiError
from ..extras import require
from ..io.merge import WrittenEvents


@dataclass(frozen=True)
class GenerateSettings:
    """What to generate (the ``generate`` command's options)."""

    sample: str
    leptons: tuple[str, str] = ("e+", "mu-")
    tail_bias: float | None = None
    top_mass: float = 172.5
    top_width: float | None = None


@dataclass
class RunSummary:
    events: int
    cross_section: float
    cross_section_error: float
    efficiency: float
    overweight_events: int
    overweight_fraction: float
    seconds: float
    written: WrittenEvents  # the file and where its events lie (for merging shards byte for byte)


def generate_file(
    settings: GenerateSettings, n_events: int, seed: int, output: str | Path, progress: Callable | None = None
) -> RunSummary:
    """Adapt, generate ``n_events`` and write them to ``output`` (atomic); ``progress`` gets accepted counts."""
    from .generator import ReferenceGenerator
    from .hvq import HvqGenerator
    from .output import generate_to_file

    if settings.sample == "onshell":
        generator = HvqGenerator(
            leptons=settings.leptons, seed=seed, top_mass=settings.top_mass, top_width=settings.top_width
        )
    else:
        generator = ReferenceGenerator(
            settings.sample,
            leptons=settings.leptons,
            seed=seed,
            tail_bias=settings.tail_bias,
            top_mass=settings.top_mass,
            top_width=settings.top_width,
        )
    generator.adapt()
    written = generate_to_file(generator, n_events, output, progress)
    s = generator.stats
    return RunSummary(
        n_events,
        s.cross_section,
        s.cross_section_error,
        s.efficiency,
        s.overweight_events,
        s.overweight_fraction,
        s.seconds,
        written,
    )


def shard_seed(seed: int, shard: int, shards: int) -> int:
    """The seed of one shard: the run's own seed for a single shard, else one derived from (seed, shard)."""
    if shards == 1:
        return seed
    return int(np.random.SeedSequence([seed % 2**63, shard]).generate_state(1, dtype=np.uint32)[0])


def shard_sizes(n_events: int, shards: int) -> list[int]:
    return [n_events // shards + (k < n_events % shards) for k in range(shards)]


def generate_sharded(
    settings: GenerateSettings,
    n_events: int,
    seed: int,
    output: str | Path,
    *,
    shards: int,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[RunSummary]:
    """Generate ``n_events`` in ``shards`` shards on ``workers`` local worker processes (or the cluster at
    ``scheduler``) and merge them into ``output``; summaries in shard order. Shard files live in a folder beside
    ``output`` that is removed afterwards; a failed shard is retried, and a run that still fails leaves no output."""
    if shards < 1 or shards > n_events:
        raise LheDidiError(f"--shards must be between 1 and the number of events ({n_events}), got {shards}")
    output = Path(output)
    sizes = shard_sizes(n_events, shards)
    serial = workers == 1 and scheduler is None
    if shards == 1 and serial:
        return [generate_file(settings, n_events, seed, output, progress)]
    from ..io.merge import merge_files

    folder = output.with_name(f".{output.name}.shards")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    suffix = ".lhe.gz" if output.name.endswith(".gz") else ".lhe"
    paths = [folder / f"shard-{k:04d}{suffix}" for k in range(shards)]
    labels = [f"shard {k} of {shards} (seed {shard_seed(seed, k, shards)})" for k in range(shards)]
    try:
        if serial:  # the shards one after the other in this process
            summaries = []
            for k, (size, path) in enumerate(zip(sizes, paths, strict=True)):
                summaries.append(generate_file(settings, size, shard_seed(seed, k, shards), path))
                if progress is not None:
                    progress(size)
        else:
            summaries = _shards_on_dask(settings, sizes, seed, paths, workers, scheduler, progress)
        if shards == 1:
            shutil.move(paths[0], output)
        else:
            merge_files(paths, output, labels=labels, written=[s.written for s in summaries])
        return summaries
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _shards_on_dask(settings, sizes, seed, paths, workers, scheduler, progress) -> list[RunSummary]:
    """Run the shards as Dask tasks (retried when lost); the first failure ends the run."""
    require("cluster", "lhe-didi generate --workers/--scheduler")
    from distributed import as_completed

    from ..cluster import RETRIES, dask_client

    with dask_client(workers, scheduler) as client:
        futures = [
            client.submit(
                _generate_on_worker,
                settings,
                size,
                shard_seed(seed, k, len(sizes)),
                str(path),
                pure=False,
                retries=RETRIES,
            )
            for k, (size, path) in enumerate(zip(sizes, paths, strict=True))
        ]
        order = {future.key: k for k, future in enumerate(futures)}
        summaries: list[RunSummary | None] = [None] * len(futures)
        for future in as_completed(futures):
            k = order[future.key]
            summaries[k] = future.result()
            if isinstance(summaries[k], LheDidiError):
                raise summaries[k]
            if progress is not None:
                progress(summaries[k].events)
    return summaries


def _generate_on_worker(settings, events: int, seed: int, path: str):
    """One shard on a worker; an error of the user's making is handed back (not retried, not logged there)."""
    try:
        return generate_file(settings, events, seed, path)
    except LheDidiError as exc:
        return exc
