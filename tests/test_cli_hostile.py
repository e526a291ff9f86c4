"""Hostile arguments to `evsynth batch` found by fuzzing: a column in two roles and an output
folder inside (or holding) the input dataset give a clear InputError (exit 2) naming the
columns or paths, never the CLI's "internal error" (exit 1), and nothing is written.

Skipped when the optional extra ``evsynth[dask]`` is not installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evsynth
from cli_helpers import assert_clean_error, cli
from evsynth.cli import main
from evsynth.errors import InputError

pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"g": np.repeat(["a", "b", "c"], 4), "yi": rng.normal(size=12),
                         "vi": rng.uniform(0.05, 0.2, 12)})


@pytest.fixture
def good(tmp_path) -> Path:
    path = tmp_path / "good.parquet"
    _frame().to_parquet(path, index=False)
    return path


@pytest.fixture
def ds(tmp_path) -> Path:
    """A dataset folder of two files, each holding whole groups."""
    folder = tmp_path / "ds"
    folder.mkdir()
    df = _frame()
    df.iloc[:8].to_parquet(folder / "part0.parquet", index=False)
    df.iloc[8:].to_parquet(folder / "part1.parquet", index=False)
    return folder


def _listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# --------------------------------------------------------------- 5: a column in two roles
@pytest.mark.parametrize("by, yi, vi, message", [
    ("g", "g", "vi", "column 'g' is named in both --by and --yi"),
    ("g", "yi", "g", "column 'g' is named in both --by and --vi"),
    ("g", "yi", "yi", "column 'yi' is named in both --yi and --vi"),
    ("g,g", "yi", "vi", "column 'g' is named twice in --by"),
])
def test_batch_column_in_two_roles(good, tmp_path, capsys, by, yi, vi, message):
    code, _, err = cli(capsys, "batch", good, "--by", by, "--yi", yi, "--vi", vi,
                       "--out", tmp_path / "o", "--quiet")
    assert_clean_error(code, err)
    assert message in err and "expected different columns" in err
    assert not (tmp_path / "o").exists()


def test_batch_help_says_the_columns_differ(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["batch", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "not a --by column" in out and "outside IN" in out


def test_library_refuses_a_column_in_two_roles(good, tmp_path):
    with pytest.raises(InputError, match=r"column 'g' is named in both by= and yi="):
        evsynth.meta_batch_parquet(good, by="g", yi="g", vi="vi", out=tmp_path / "o")
    import dask.dataframe as dd

    from evsynth.models.dask_batch import meta_batch_dask

    ddf = dd.from_pandas(_frame(), npartitions=1)
    with pytest.raises(InputError, match=r"column 'vi' is named in both yi= and vi="):
        meta_batch_dask(ddf, "g", yi="vi", vi="vi")


# --------------------------------------------------------------- 6: output inside the input
def test_batch_out_inside_the_input_dataset(ds, tmp_path, capsys):
    before = _listing(ds)
    code, _, err = cli(capsys, "batch", ds, "--by", "g", "--yi", "yi", "--vi", "vi",
                       "--out", ds / "out", "--quiet")
    assert_clean_error(code, err)
    assert f"{ds / 'out'}: the output folder would be inside the input {ds}" in err
    assert _listing(ds) == before  # nothing written, no temporary folder
    # the next run on the dataset works (the fuzzer's second run failed)
    code, _, err = cli(capsys, "batch", ds, "--by", "g", "--yi", "yi", "--vi", "vi",
                       "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    assert pd.read_parquet(tmp_path / "out").shape[0] == 3


def test_batch_out_is_or_holds_the_input(ds, tmp_path, capsys):
    before = _listing(ds)
    for inp, out in ((ds, ds), (ds / "part0.parquet", ds), (ds, tmp_path)):
        code, _, err = cli(capsys, "batch", inp, "--by", "g", "--yi", "yi", "--vi", "vi",
                           "--out", out, "--quiet", "--force")
        assert_clean_error(code, err)
        assert f"{out}: " in err and ("is the input" in err or "holds the input" in err), err
    assert _listing(ds) == before  # --force replaced nothing


def test_batch_out_matched_by_the_input_glob(ds, capsys):
    pattern = f"{ds}/*.parquet"
    code, _, err = cli(capsys, "batch", pattern, "--by", "g", "--yi", "yi", "--vi", "vi",
                       "--out", ds / "res.parquet", "--quiet")
    assert_clean_error(code, err)
    assert "matches the input pattern" in err or "inside the input" in err
    assert not (ds / "res.parquet").exists()


def test_batch_out_under_a_file_or_empty(good, tmp_path, capsys):
    other = tmp_path / "notes.txt"
    other.write_text("x")
    code, _, err = cli(capsys, "batch", good, "--by", "g", "--yi", "yi", "--vi", "vi",
                       "--out", other / "o", "--quiet")
    assert_clean_error(code, err)
    assert f"{other} is a file, not a folder" in err
    code, _, err = cli(capsys, "batch", good, "--by", "g", "--yi", "yi", "--vi", "vi",
                       "--out", "", "--quiet")
    assert_clean_error(code, err)
    assert "--out '': empty" in err


def test_batch_out_current_folder_refused(good, tmp_path, capsys, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    (here / "old.parquet").write_bytes(b"")
    monkeypatch.chdir(here)
    for out in (".", str(here), ".."):
        code, _, err = cli(capsys, "batch", good, "--by", "g", "--yi", "yi", "--vi", "vi",
                           "--out", out, "--quiet", "--force")
        assert_clean_error(code, err)
    assert _listing(here) == ["old.parquet"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_batch_out_that_cannot_be_created(good, capsys):
    code, _, err = cli(capsys, "batch", good, "--by", "g", "--yi", "yi", "--vi", "vi",
                       "--out", "/proc/x", "--quiet")
    assert_clean_error(code, err)
    assert "/proc/x: cannot create the output folder" in err
