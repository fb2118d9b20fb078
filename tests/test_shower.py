"""Transformed events through Pythia 8 (the 'shower' extra, pythia8mc): the records a shower gets must work."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from lhe_didi.cli import main
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import system_masses

pytest.importorskip("pythia8mc")

# hvq-style showering of POWHEG events without the POWHEG hooks (not in pythia8mc's Python module): the shower
# starts at the event's SCALUP (pTmaxMatch = 1, as POWHEG:veto = 0 set-ups do); hadronisation and decays on.
SHOWER = textwrap.dedent(
    """
    import sys
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in ["Beams:frameType = 4", f"Beams:LHEF = {sys.argv[1]}", "Next:numberCount = 0", "PartonLevel:MPI = off",
                 "SpaceShower:pTmaxMatch = 1", "TimeShower:pTmaxMatch = 1", "Check:event = on", "Print:quiet = on"]:
        assert pythia.readString(line), line
    assert pythia.init()
    showered = failed = 0
    while True:
        if pythia.next():
            showered += 1
        elif pythia.infoPython().atEndOfFile():
            break
        else:
            failed += 1
    print(f"showered {showered} failed {failed}")
    pythia.stat()
    """
)


def test_pythia_showers_transformed_events_of_every_history_without_errors(tmp_path, example_lo_path):
    out = tmp_path / "offshell.lhe.gz"  # three gzip members (lhe_didi.io.writer): Pythia reads them as one
    assert (
        CliRunner().invoke(main, ["transform", str(example_lo_path), "-o", str(out), "--device", "cpu"]).exit_code == 0
    )
    batch = LheReader(out).read_all()
    masses = system_masses(batch.momenta)
    off_peak = (np.abs(masses["t"] - 172.5) > 15) | (np.abs(masses["tbar"] - 172.5) > 15)
    assert off_peak.sum() >= 10  # the showered sample includes far off-shell tops
    single_top = np.bincount(batch.history, minlength=3)[1:]
    assert np.all(single_top >= 10), single_top  # and t W- and t~ W+ records (resonance histories)
    result = subprocess.run([sys.executable, "-c", SHOWER, str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"showered {len(batch)} failed 0" in result.stdout
    statistics = result.stdout[result.stdout.index("PYTHIA Error and Warning Messages Statistics") :]
    errors = [line for line in statistics.splitlines() if "Error" in line and "Statistics" not in line]
    assert errors == [], errors
