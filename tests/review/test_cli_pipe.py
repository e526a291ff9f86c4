"""`evsynth run ... --json | head -1`: a reader that stops early is not an internal error."""

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vertebroplasty"


def test_json_output_into_a_closed_pipe_is_not_an_error(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "evsynth.cli", "run", str(EXAMPLE), "--out",
                             str(tmp_path / "out"), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader has gone before anything is written (as `head` after exit)
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert rc == 0, err
    assert "internal error" not in err and "Traceback" not in err
