"""Running the command line in tests: ``cli(capsys, ...)`` and the check of a clean error."""

from __future__ import annotations

from evsynth.cli import main


def cli(capsys, *argv) -> tuple[int, str, str]:
    """``evsynth ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str) -> None:
    """An input error: exit code 2 and a message, no traceback or "internal error"."""
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err
