"""meta_batch on Dask DataFrames, meta_batch_parquet and ``evsynth batch`` (issue 18, point 1).

Skipped when the optional extra ``evsynth[dask]`` (dask[dataframe], distributed, pyarrow) is not
installed; CI installs it (.ci/run). The cluster tests start and stop a
``distributed.LocalCluster`` of 2 worker processes on small data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.errors import InputError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from evsynth.cli import main  # noqa: E402
from evsynth.models.dask_batch import check_partitioned, meta_batch_dask  # noqa: E402


def _data(G: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 9, G)
    g = np.repeat(np.arange(G), k)
    return pd.DataFrame({"g": g, "site": np.array(["a", "b", "c"])[g % 3],
                         "yi": rng.normal(0.2, 0.4, g.size),
                         "vi": rng.uniform(0.01, 0.2, g.size)})


def _by_groups(df: pd.DataFrame, edges: list[int]) -> object:
    """A Dask DataFrame whose partitions hold whole groups (cut at group ids ``edges``)."""
    import dask

    bounds = [0, *edges, int(df.g.max()) + 1]
    parts = [df[(df.g >= lo) & (df.g < hi)] for lo, hi in zip(bounds, bounds[1:], strict=False)]
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=df.iloc[:0])


def _per_partition(df: pd.DataFrame, edges: list[int], **kw: object) -> pd.DataFrame:
    bounds = [0, *edges, int(df.g.max()) + 1]
    frames = [evsynth.meta_batch(df[(df.g >= lo) & (df.g < hi)], **kw).to_frame()
              for lo, hi in zip(bounds, bounds[1:], strict=False)]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(("by", "method", "test"), [("g", "REML", "z"), (["site", "g"], "DL",
                                                                          "knha")])
def test_dask_equals_pandas(by: object, method: str, test: str) -> None:
    df = _data()
    edges = [90, 200]
    res = evsynth.meta_batch(_by_groups(df, edges), by=by, method=method, test=test)
    assert isinstance(res, dd.DataFrame)
    out = res.compute(scheduler="threads").reset_index(drop=True)
    whole = evsynth.meta_batch(df, by=by, method=method, test=test).to_frame()
    # same columns and dtypes as the pandas path, rows in the same order
    assert list(out.columns) == list(whole.columns)
    assert out.dtypes.to_dict() == whole.dtypes.to_dict()
    assert list(res.columns) == list(whole.columns)
    # exactly the pandas path on the whole frame (and on each partition's rows)
    pd.testing.assert_frame_equal(out, whole, check_exact=True)
    pd.testing.assert_frame_equal(out, _per_partition(df, edges, by=by, method=method,
                                                      test=test), check_exact=True)


def test_indexed_by_key_with_divisions_needs_no_check() -> None:
    df = _data(200)
    ddf = dd.from_pandas(df.set_index("g"), npartitions=3, sort=True)
    assert ddf.known_divisions
    out = evsynth.meta_batch(ddf, by="g").compute(scheduler="threads").reset_index(drop=True)
    whole = evsynth.meta_batch(df, by="g").to_frame()
    pd.testing.assert_frame_equal(out, whole, check_exact=True)


@pytest.mark.parametrize("method", ["REML", "ML", "DL", "PM", "SJ"])
def test_dask_and_parquet_equal_the_whole_frame_across_the_kernel_switch(method, tmp_path):
    """3,000 groups: the pandas path on the whole frame uses the fused (numba) kernels; the
    partitions hold 1, 499 and 2,500 groups. Pinned to the whole frame's kernels
    (kernels.pinned_kernels), every Dask and Parquet result is bitwise the pandas result; the
    partitions fitted on their own (unpinned, numpy below 2,048 groups) differ in the last bits
    (the two kernels sum in different orders), which is why the pin is needed."""
    df = _data(3000, seed=7)
    edges = [1, 500]
    whole = evsynth.meta_batch(df, by="g", method=method).to_frame()
    out = evsynth.meta_batch(_by_groups(df, edges), by="g", method=method).compute(
        scheduler="threads").reset_index(drop=True)
    pd.testing.assert_frame_equal(out, whole, check_exact=True)
    ddf = dd.from_pandas(df.set_index("g"), npartitions=4, sort=True)  # no check pass
    out2 = evsynth.meta_batch(ddf, by="g", method=method).compute(
        scheduler="threads").reset_index(drop=True)
    pd.testing.assert_frame_equal(out2, whole, check_exact=True)
    src = tmp_path / "in"
    _parquet_by_group(df, src, edges)
    evsynth.meta_batch_parquet(src, by="g", out=tmp_path / "out.parquet", method=method)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), whole,
                                  check_exact=True)
    alone = _per_partition(df, edges, by="g", method=method)
    num = whole.select_dtypes("number").columns
    assert not (alone[num] == whole[num]).all().all()


def test_groups_split_over_partitions_are_an_error() -> None:
    df = _data(100)
    ddf = dd.from_pandas(df, npartitions=3, sort=False)  # cuts by row: splits groups
    with pytest.raises(InputError) as exc:
        evsynth.meta_batch(ddf, by="g")
    msg = str(exc.value)
    assert "has rows in partitions" in msg and "shuffle(on=['g'])" in msg
    # after the documented repartitioning it works
    fixed = ddf.shuffle(on="g")
    check_partitioned(fixed, "g")
    out = evsynth.meta_batch(fixed, by="g").compute(scheduler="threads")
    assert len(out) == 100


def test_input_errors_name_partition_row_and_group() -> None:
    df = _data(50)
    df.loc[df.index[df.g == 30][0], "vi"] = -1.0
    res = meta_batch_dask(_by_groups(df, [20]), by="g")
    with pytest.raises(InputError, match=r"partition 2 .*group \{'g': 30\}.*field 'vi'"):
        res.compute(scheduler="threads")
    with pytest.raises(InputError, match="'method'"):
        evsynth.meta_batch(_by_groups(df, [20]), by="g", method="nope")
    with pytest.raises(InputError, match="'zz'"):
        evsynth.meta_batch(_by_groups(df, [20]), by="g", yi="zz")


def _parquet_by_group(df: pd.DataFrame, folder, edges: list[int]) -> None:
    folder.mkdir()
    bounds = [0, *edges, int(df.g.max()) + 1]
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
        df[(df.g >= lo) & (df.g < hi)].to_parquet(folder / f"part{i}.parquet", index=False)


def test_parquet_in_and_out(tmp_path) -> None:
    df = _data(250)
    src = tmp_path / "in"
    _parquet_by_group(df, src, [100, 180])
    seen: list[tuple[int, int]] = []
    info = evsynth.meta_batch_parquet(src, by="g", out=tmp_path / "out.parquet",
                                      progress=lambda d, t: seen.append((d, t)))
    assert info["groups"] == 250 and info["partitions"] == 3
    assert seen[-1] == (3, 3)
    back = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(back, _per_partition(df, [100, 180], by="g"),
                                  check_exact=True)
    # no overwrite without force; with force only a previous output is replaced
    with pytest.raises(InputError, match="exists"):
        evsynth.meta_batch_parquet(src, by="g", out=tmp_path / "out.parquet")
    evsynth.meta_batch_parquet(src, by="g", out=tmp_path / "out.parquet", force=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not replaced"):
        evsynth.meta_batch_parquet(src, by="g", out=tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(InputError, match="column 'zz'"):
        evsynth.meta_batch_parquet(src, by="zz", out=tmp_path / "o2")
    assert not list(tmp_path.glob(".o2*"))  # no temporary folder left behind
    # files that split a group: refused after the fit, nothing put in place
    split = tmp_path / "split"
    split.mkdir()
    df.iloc[:700].to_parquet(split / "a.parquet", index=False)
    df.iloc[700:].to_parquet(split / "b.parquet", index=False)
    if df.g.iloc[699] == df.g.iloc[700]:
        with pytest.raises(InputError, match="has rows in partitions 1 and 2"):
            evsynth.meta_batch_parquet(split, by="g", out=tmp_path / "o3")
        assert not (tmp_path / "o3").exists() and not list(tmp_path.glob(".o3*"))
    # the same check for two key columns (no key ranges: the check pass runs)
    with pytest.raises(InputError, match="has rows in partitions"):
        evsynth.meta_batch_parquet(split, by=["site", "g"], out=tmp_path / "o4")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit="1GB") as lc:
        yield lc


def test_local_cluster_parquet_and_cli(cluster, tmp_path, capsys) -> None:
    df = _data(400, seed=3)
    src = tmp_path / "in"
    _parquet_by_group(df, src, [150, 260])
    ref = _per_partition(df, [150, 260], by="g", method="DL", test="knha")
    with distributed.Client(cluster) as client:
        info = evsynth.meta_batch_parquet(src, by="g", out=tmp_path / "a.parquet",
                                          method="DL", test="knha", client=client)
        assert info["groups"] == 400
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), ref,
                                      check_exact=True)
        # a Dask DataFrame computed on the cluster
        ddf = dd.read_parquet(str(src))
        out = evsynth.meta_batch(ddf, by="g", method="DL", test="knha").compute()
        pd.testing.assert_frame_equal(out.reset_index(drop=True), ref, check_exact=True)
    # the command line with the scheduler's address
    code = main(["batch", str(src), "--by", "g", "--yi", "yi", "--vi", "vi", "--method", "DL",
                 "--test", "hksj", "--out", str(tmp_path / "b.parquet"), "--scheduler",
                 cluster.scheduler_address])
    assert code == 0
    assert "400 meta-analyses in 3 partitions" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "b.parquet"), ref,
                                  check_exact=True)


def test_cluster_parquet_refits_small_partitions_pinned(cluster, tmp_path) -> None:
    """On a cluster: 3,000 groups in files of 1, 499 and 2,500 groups; the two small ones are
    fitted again with the whole data set's (fused) kernels, so every result is bitwise the
    pandas path on all the data."""
    df = _data(3000, seed=8)
    src = tmp_path / "in"
    _parquet_by_group(df, src, [1, 500])
    whole = evsynth.meta_batch(df, by="g", method="REML").to_frame()
    with distributed.Client(cluster) as client:
        info = evsynth.meta_batch_parquet(src, by="g", out=tmp_path / "o.parquet",
                                          method="REML", client=client)
    assert info["groups"] == 3000 and info["partitions"] == 3
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "o.parquet"), whole,
                                  check_exact=True)


def test_simulation_on_a_cluster_equals_in_process(cluster, tmp_path) -> None:
    from evsynth.simulate import Method, grid, run

    scs = grid(k=[3, 8], tau2=[0.0, 0.1], measure="logOR", n=30, p0=0.1)
    ms = [Method("DL", "z"), Method("REML", "knha")]
    local = run(scs, ms, replicates=300, seed=11, block=100)
    with distributed.Client(cluster) as client:
        remote = run(scs, ms, replicates=300, seed=11, block=100, client=client,
                     out=tmp_path / "sim")
    pd.testing.assert_frame_equal(local.to_frame(), remote.to_frame(), check_exact=True)
    assert len(list((tmp_path / "sim").glob("scenario-*.npz"))) == 4


def test_cli_batch_errors(tmp_path, capsys) -> None:
    df = _data(60)
    src = tmp_path / "rows.parquet"
    df.to_parquet(src, index=False)
    code = main(["batch", str(tmp_path / "missing"), "--by", "g", "--yi", "yi", "--vi", "vi",
                 "--out", str(tmp_path / "o.parquet"), "--quiet"])
    assert code == 2 and "no such file" in capsys.readouterr().err
    code = main(["batch", str(src), "--by", "g", "--yi", "yi", "--vi", "vi", "--level", "40",
                 "--out", str(tmp_path / "o.parquet"), "--quiet"])
    assert code == 2 and "'level'" in capsys.readouterr().err
    code = main(["batch", str(src), "--by", "g", "--yi", "yi", "--vi", "vi",
                 "--out", str(tmp_path / "o.parquet"), "--quiet"])
    assert code == 0 and pd.read_parquet(tmp_path / "o.parquet").shape[0] == 60
