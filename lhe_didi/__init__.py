"""lhe-didi: full off-shell effects for POWHEG hvq top-pair events with Direct Diffusion."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lhe-didi")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
