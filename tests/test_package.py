import subprocess
import sys

import evsynth


def test_version_and_lazy_names():
    assert evsynth.__version__
    assert "meta" in dir(evsynth)


def test_cli_version():
    out = subprocess.run([sys.executable, "-m", "evsynth.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert "evsynth" in out.stdout
