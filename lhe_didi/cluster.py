"""Transform many files on a Dask cluster (the ``cluster`` extra): one task per input file.

``lhe-didi transform IN [IN ...] -o OUTDIR --workers N`` starts a local ``dask.distributed`` cluster of N worker
processes with one thread each; ``--scheduler ADDRESS`` uses a running cluster instead (dask-jobqueue on HTCondor
or Slurm, see the README). Every task is :func:`lhe_didi.transform.transform_file` on one file, so each output is
the file a serial run with the same settings and thread count writes, byte for byte, and it appears only when
complete (a retried task rewrites it from scratch). Each worker process loads and verifies the models once
(:class:`lhe_didi.transform.LoadedModels`). A file that fails gets no output; the others are written, and the
failure of the first failing input (in the order given) is raised at the end.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

from .errors import LheDidiError
from .extras import require
from .transform import LoadedModels, TransformReport, TransformSettings, transform_file

RETRIES = 2  # a task lost with its worker (killed, evicted) is run again elsewhere
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_worker = threading.local()


def output_paths(inputs: list[Path], output_dir: Path) -> list[Path]:
    """OUTDIR/<input file name> for every input; two inputs of the same name are refused."""
    names = [Path(i).name for i in inputs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise LheDidiError(f"inputs share a file name, their outputs would collide in {output_dir}: {duplicated[0]}")
    if output_dir.exists() and not output_dir.is_dir():
        raise LheDidiError(f"{output_dir}: with several inputs -o must be a directory")
    return [output_dir / n for n in names]


@contextmanager
def dask_client(workers: int, scheduler: str | None):
    """A ``distributed`` client of the cluster at ``scheduler``, else of a local cluster of ``workers`` processes with
    one thread each, closed on exit."""
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
    try:
        with Client(scheduler or cluster) as client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()


def _keep_freed_memory() -> None:
    """Undo dask's MALLOC_TRIM_THRESHOLD_=65536 for worker processes: with it every tensor of the network is mapped
    and unmapped afresh and a transform runs 1.5x slower (docs/benchmarks.md). glibc only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)


def _transform_on_worker(source: str, target: str, settings: TransformSettings, threads: int) -> TransformReport:
    """One task: the worker thread's cached models, ``threads`` torch threads."""
    if not getattr(_worker, "malloc_tuned", False):
        _keep_freed_memory()
        _worker.malloc_tuned = True
    torch.set_num_threads(threads)
    # denormal floats flushed to zero, as in the main thread of a plain run: without it the network runs ~1.5x
    # slower in a worker thread (docs/benchmarks.md)
    torch.set_flush_denormal(True)
    if not hasattr(_worker, "models"):
        _worker.models = LoadedModels()
    return transform_file(source, target, settings, models=_worker.models)


def transform_files(
    inputs: list[Path],
    output_dir: Path,
    settings: TransformSettings,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[TransformReport]:
    """Transform ``inputs`` into ``output_dir`` (one output per input, same name); reports in input order.

    ``workers == 1`` without a scheduler runs the files one after the other in this process.
    ``progress``: called with each finished file's number of input events.
    """
    serial = workers == 1 and scheduler is None
    if not serial:
        require("cluster", "lhe-didi transform --workers/--scheduler")
    targets = output_paths(inputs, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if serial:
        models, reports = LoadedModels(), []
        for source, target in zip(inputs, targets, strict=True):
            reports.append(transform_file(source, target, settings, progress=progress, models=models))
        return reports
    from distributed import as_completed

    with dask_client(workers, scheduler) as client:
        futures = [
            client.submit(_transform_on_worker, str(s), str(t), settings, threads, pure=False, retries=RETRIES)
            for s, t in zip(inputs, targets, strict=True)
        ]
        order = {future.key: k for k, future in enumerate(futures)}
        reports: list[TransformReport | None] = [None] * len(futures)
        failures: dict[int, BaseException] = {}
        for future in as_completed(futures):
            k = order[future.key]
            if future.status == "error":
                failures[k] = future.exception()
                continue
            reports[k] = future.result()
            if progress is not None:
                progress(reports[k].events_in)
    if failures:
        raise failures[min(failures)]
    return reports
