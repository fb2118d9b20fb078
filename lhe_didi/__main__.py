"""``python -m lhe_didi`` runs the command-line interface."""

from .cli import main

main()
