"""Batches of meta-analyses on Dask: :func:`meta_batch_dask` (what :func:`evsynth.meta_batch`
does with a Dask DataFrame) and :func:`meta_batch_parquet` (partitioned Parquet in and out).

Requirement: the data are partitioned by the group key
    Every group's rows must lie in one partition (e.g. Parquet files written per group or per
    range of groups, ``to_parquet(partition_on=...)``, or a frame indexed by the key with
    known divisions). Each partition is then fitted where it lives by the pandas path
    (:func:`evsynth.meta_batch`, the same kernels), with no shuffle. The requirement is
    checked: :func:`meta_batch_dask` computes the distinct keys of each partition before it
    returns (one pass over the data; skipped when the frame is indexed by the single key
    column with known divisions); :func:`meta_batch_parquet` needs no extra pass: each
    written partition reports its key range, disjoint ranges prove the requirement, and
    otherwise the keys of the written partitions are read back before the output is put in
    place. A group found in two partitions is an :class:`~evsynth.errors.InputError` naming
    the group and the partitions, and saying how to repartition (``ddf.shuffle(on=by)``, a
    full shuffle, done once).

Results
    a Dask DataFrame with the columns and dtypes of ``meta_batch(...).to_frame()`` for pandas
    input (group keys, then ``k, estimate, se, zval, pval, ci_lb, ci_ub, pi_lb, pi_ub, tau2,
    se_tau2, tau, I2, H2, QE, QEp, converged, iterations, note``), one row per group, groups
    in order of first appearance within each partition, partitions in order; computing it
    gives exactly the pandas path's table (tested). An input error in a partition names the
    partition and, within it, the row and group.

Dask, distributed and pyarrow are the optional extra ``evsynth[dask]``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.models.batch import check_columns, key_columns

#: dtypes of the result columns after the group keys (the pandas path's)
RESULT_DTYPES: dict[str, Any] = {
    "k": np.int64, "estimate": float, "se": float, "zval": float, "pval": float,
    "ci_lb": float, "ci_ub": float, "pi_lb": float, "pi_ub": float, "tau2": float,
    "se_tau2": float, "tau": float, "I2": float, "H2": float, "QE": float, "QEp": float,
    "converged": bool, "iterations": np.int64,
}
DASK_MISSING = ("Dask is not installed: install the optional extra with pip install "
                "\"evsynth[dask]\" (dask[dataframe], distributed, pyarrow)")


def is_dask_frame(obj: Any) -> bool:
    """True for a ``dask.dataframe.DataFrame`` (without importing Dask when it is not
    loaded already: a Dask object can only exist if Dask was imported)."""
    import sys

    if "dask.dataframe" not in sys.modules:
        return False
    import dask.dataframe as dd

    return isinstance(obj, dd.DataFrame)


def _import_dd() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError:
        raise InputError(DASK_MISSING) from None
    return dd


def empty_result(keys: pd.DataFrame) -> pd.DataFrame:
    """The empty result table for group-key columns typed as ``keys``."""
    from evsynth.models.batch import _group_codes

    _, k = _group_codes(keys.iloc[:0], list(keys.columns))
    out = k.copy()
    for name, dt in RESULT_DTYPES.items():
        out[name] = pd.Series(np.array([], dtype=dt), index=out.index)
    out["note"] = pd.Series(np.array([], dtype=str), index=out.index).astype(
        pd.Series(np.array([""])).dtype)
    return out


def _fit_partition(part: pd.DataFrame, cols: list[str], yi: str, vi: str, method: str,
                   test: str, level: float, control: dict[str, Any] | None,
                   groups: int | None = None,
                   partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """One partition by the pandas path, its kernels pinned to those of a batch of ``groups``
    groups (the whole frame's; :func:`evsynth.models.kernels.pinned_kernels`): then every group
    gets bitwise the result of the pandas path on the whole frame."""
    from evsynth.models.batch import meta_batch
    from evsynth.models.kernels import pinned_kernels

    if len(part) == 0:
        return empty_result(part[cols])
    try:
        if groups is None:
            return meta_batch(part, cols, yi, vi, method, test, level, control).to_frame()
        with pinned_kernels(int(groups)):
            return meta_batch(part, cols, yi, vi, method, test, level, control).to_frame()
    except InputError as exc:
        num = partition_info.get("number") if partition_info else None
        where = f"partition {num + 1}" if num is not None else "a partition"
        raise InputError(f"{where} (rows counted within it): {exc}") from None


def _raise_if_split(frames: list[pd.DataFrame], cols: list[str]) -> None:
    """InputError naming a group whose keys occur in more than one of ``frames`` (the distinct
    keys of each partition, in partition order)."""
    tagged = [f[cols].drop_duplicates().assign(_evsynth_partition=i)
              for i, f in enumerate(frames)]
    allk = pd.concat(tagged, ignore_index=True)
    dup = allk.duplicated(subset=cols, keep=False)
    if not dup.any():
        return
    same = allk[dup]
    first = same.iloc[0]
    key = {c: (first[c].item() if hasattr(first[c], "item") else first[c]) for c in cols}
    mask = np.ones(len(same), dtype=bool)
    for c in cols:
        mask &= (same[c] == first[c]).to_numpy()
    where = sorted(int(x) + 1 for x in same["_evsynth_partition"][mask])
    n_split = int(same.drop_duplicates(subset=cols).shape[0])
    raise InputError(
        f"meta_batch: group {key} has rows in partitions {where[0]} and {where[1]} "
        f"({n_split} group(s) span partitions); a Dask DataFrame must hold each group in "
        f"one partition (partitioned by the group key {cols}): repartition once, e.g. "
        f"ddf.shuffle(on={cols}) (a full shuffle), or write the Parquet data partitioned "
        f"by the key (to_parquet(partition_on={cols}))")


def check_partitioned(ddf: Any, by: str | Sequence[str],
                      columns: Sequence[str] | None = None) -> int | None:
    """Raise :class:`InputError` unless every group of ``ddf`` lies in one partition; return
    the number of groups.

    One pass over the data that computes the distinct keys of each partition. ``columns``:
    the columns the fit reads (the check maps over the same projection, so that Dask's
    optimiser partitions both alike). Skipped (None returned) when ``ddf`` is indexed by the
    single key column with known divisions.
    """
    cols = key_columns(by)
    if len(cols) == 1 and ddf.index.name == cols[0] and ddf.known_divisions:
        return None
    import dask

    frame = ddf[list(columns)] if columns is not None else ddf
    uniq = frame.map_partitions(lambda d: d[cols].drop_duplicates(), meta=ddf._meta[cols])
    frames = list(dask.compute(*uniq.to_delayed()))
    _raise_if_split(frames, cols)
    return int(sum(len(f) for f in frames))


def _count_groups(part: pd.DataFrame, cols: list[str]) -> int:
    return int(len(part[cols].drop_duplicates())) if len(part) else 0


def meta_batch_dask(ddf: Any, by: str | Sequence[str], yi: str = "yi", vi: str = "vi",
                    method: str = "REML", test: str = "z", level: float = 95,
                    control: dict[str, Any] | None = None, check: bool = True) -> Any:
    """:func:`evsynth.meta_batch` for a Dask DataFrame partitioned by the group key: a Dask
    DataFrame of results (see the module docstring). Arguments are checked at once (the
    same rules and messages as the pandas path); ``check=False`` skips the partition check
    (for data known to be partitioned by the key)."""
    from evsynth.models.engine import Control
    from evsynth.validation import level_percent, meta_method, test_code

    method = meta_method(method)
    test = test_code(test)
    level = level_percent(level)
    Control.from_any(control)
    cols = key_columns(by)
    check_columns(cols, yi, vi)
    if len(cols) == 1 and cols[0] not in ddf.columns and ddf.index.name == cols[0]:
        # indexed by the key: sorted with known divisions means partitioned by the key
        check = check and not ddf.known_divisions
        ddf = ddf.reset_index()
    missing = [c for c in cols if c not in ddf.columns]
    if missing:
        raise InputError(f"meta_batch: column(s) {missing} named in by= are not in the data")
    for col in (yi, vi):
        if col not in ddf.columns:
            raise InputError(f"meta_batch: column {col!r} is not in the data")
    groups: Any = check_partitioned(ddf, cols, [*cols, yi, vi]) if check else None
    if groups is None:  # the number of groups, in the graph: one more pass over the keys
        import dask

        counts = [dask.delayed(_count_groups, pure=True)(p, cols)
                  for p in ddf[cols].to_delayed()]
        groups = dask.delayed(sum, pure=True)(counts)
    meta = empty_result(ddf._meta[cols])
    return ddf[[*cols, yi, vi]].map_partitions(
        _fit_partition, cols, yi, vi, method, test, level, control, groups, meta=meta,
        enforce_metadata=False, align_dataframes=False)


# ----------------------------------------------------------------------------- Parquet
def _is_dataset_dir(p: Path) -> bool:
    """A folder that holds only Parquet files (a previous output): safe to replace."""
    return p.is_dir() and all(
        f.is_file() and (f.suffix == ".parquet" or f.name in ("_metadata", "_common_metadata"))
        for f in p.iterdir())


def _input_paths(path: str | os.PathLike[str]) -> list[Path]:
    """The input as absolute paths (symlinks resolved): the file or folder, or for a glob
    the files it matches."""
    import glob

    text = os.fspath(path)
    names = glob.glob(text) if any(ch in text for ch in "*?[") else [text]
    return [Path(n).resolve() for n in names]


def _check_out(path: str | os.PathLike[str], dest: Path) -> None:
    """Refuse an output folder that is, holds or lies inside the input (a run would read its
    own output back, or replace its input), or that the input pattern matches; and what
    :func:`evsynth.files.check_output_folder` refuses (the current folder or one holding it, a
    path under a file, ...)."""
    import fnmatch

    from evsynth.files import check_output_folder

    dst = check_output_folder(dest, str(dest))
    try:
        inputs = _input_paths(path)
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(f"{path}: cannot be resolved ({exc}); expected the input "
                         "dataset") from None
    text = os.fspath(path)
    for src in inputs:
        if dst == src:
            raise InputError(f"{dest}: is the input {path}; expected a separate output "
                             "folder")
        if src in dst.parents:
            raise InputError(f"{dest}: the output folder would be inside the input {path}; "
                             "expected an output folder outside the input dataset (the next "
                             "run would read the output as input)")
        if dst in src.parents:
            raise InputError(f"{dest}: the output folder holds the input {path}; expected a "
                             "separate folder (it would replace the input)")
    if any(ch in text for ch in "*?[") and fnmatch.fnmatchcase(
            os.fspath(dst), os.fspath(Path(os.path.abspath(text)))):
        raise InputError(f"{dest}: matches the input pattern {path}; expected an output "
                         "folder that the input pattern does not match")


def _write_part(frame: pd.DataFrame, path: str, key: str | None) -> tuple[int, int, Any, Any]:
    """Write one partition's results; returns (groups, not converged, smallest key, largest
    key) -- the key range (single key column only) lets the caller prove that no group spans
    two partitions without a second pass over the data."""
    # dictionary encoding only for text columns: on the float columns it triples the time
    text = [str(c) for c in frame.columns
            if not pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool]
    frame.to_parquet(path, index=False, use_dictionary=text)
    conv = frame["converged"].to_numpy(dtype=bool) if len(frame) else np.zeros(0, bool)
    lo = hi = None
    if key is not None and len(frame):
        try:
            lo, hi = frame[key].min(), frame[key].max()
            lo = lo.item() if hasattr(lo, "item") else lo
            hi = hi.item() if hasattr(hi, "item") else hi
        except TypeError:  # keys that cannot be ordered: the caller checks in a second pass
            lo = hi = None
    return len(frame), int((~conv).sum()), lo, hi


def _fit_and_write(part: pd.DataFrame, path: str, key: str | None, number: int,
                   cols: list[str], yi: str, vi: str, method: str, test: str, level: float,
                   control: dict[str, Any] | None,
                   groups: int | None = None) -> tuple[int, int, Any, Any]:
    """Fit one partition (:func:`_fit_partition`) and write it (:func:`_write_part`)."""
    frame = _fit_partition(part, cols, yi, vi, method, test, level, control, groups,
                           partition_info={"number": number})
    return _write_part(frame, path, key)


def _disjoint(ranges: list[tuple[Any, Any]]) -> bool:
    """True when the closed key ranges of the non-empty partitions do not overlap."""
    if any(lo is None for lo, _ in ranges):
        return False
    try:
        srt = sorted(ranges)
        return all(a[1] < b[0] for a, b in zip(srt, srt[1:], strict=False))
    except TypeError:
        return False


def meta_batch_parquet(path: str | os.PathLike[str], by: str | Sequence[str],
                       out: str | os.PathLike[str], yi: str = "yi", vi: str = "vi",
                       method: str = "REML", test: str = "z", level: float = 95,
                       control: dict[str, Any] | None = None, *, client: Any = None,
                       force: bool = False,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Fit one meta-analysis per group of a partitioned Parquet dataset; write the results
    as partitioned Parquet.

    Parameters
    ----------
    path : str or path
        A Parquet file, a folder of Parquet files (a dataset) or a glob; each file (Dask
        partition) must hold whole groups (see :mod:`evsynth.models.dask_batch`).
    by : str or list of str
        Group key column(s).
    out : str or path
        Output folder (a Parquet dataset: one ``part.NNNNN.parquet`` per input partition, the
        columns of ``meta_batch(...).to_frame()``). Written to a temporary folder beside it
        and renamed into place when complete.
    yi, vi : str
        Columns of the effects and their sampling variances.
    method, test, level, control
        As :func:`evsynth.meta_batch`.
    client : distributed.Client, str or None
        Run on this Dask cluster (a client or a scheduler address); None: Dask's threads in
        this process.
    force : bool
        Replace an existing ``out`` (only a folder holding nothing but Parquet files, i.e. a
        previous output, is ever removed).
    progress : callable or None
        Called as ``progress(done, total)`` (partitions) as partitions are written.

    Returns
    -------
    dict
        ``out`` (the folder), ``groups``, ``partitions``, ``not_converged`` and ``seconds``.

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
    Softw 36(3):1-48. doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import tempfile, os, pandas as pd, evsynth
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"g": [1, 1, 1, 2, 2, 2], "yi": [.1, .3, .2, .5, .4, .9],
    ...               "vi": [.01, .02, .01, .03, .02, .04]}).to_parquet(f"{d}/in.parquet")
    >>> info = evsynth.meta_batch_parquet(f"{d}/in.parquet", by="g", out=f"{d}/out.parquet")
    >>> info["groups"], list(pd.read_parquet(f"{d}/out.parquet")["k"])
    (2, [3, 3])
    """
    t0 = time.perf_counter()
    dd = _import_dd()
    src = Path(path)
    if not any(ch in str(path) for ch in "*?[") and not src.exists():
        raise InputError(f"{path}: no such file or folder; expected a Parquet file or dataset")
    dest = Path(out)
    _check_out(path, dest)
    if os.path.lexists(dest):
        if not force:
            raise InputError(f"{dest}: exists; expected a new output path, or --force "
                             "(force=True) to replace a previous output")
        if not _is_dataset_dir(dest):
            raise InputError(f"{dest}: exists and is not a folder of Parquet files written by "
                             "evsynth; it is not replaced even with --force")
    try:
        ddf = dd.read_parquet(str(path))
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input here
        raise InputError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc})"
                         ) from None
    cols = key_columns(by)
    check_columns(cols, yi, vi)
    if len(cols) == 1 and cols[0] not in ddf.columns and ddf.index.name == cols[0]:
        ddf = ddf.reset_index()
    for c in [*cols, yi, vi]:
        if c not in ddf.columns:
            raise InputError(f"{path}: column {c!r} is not in the data (columns: "
                             f"{', '.join(map(str, ddf.columns))})")
    cl = None
    if client is not None:
        cl = client
        if isinstance(client, str):
            from distributed import Client

            cl = Client(client)
    import dask

    # fitted without the separate partition-check pass: each written partition reports its
    # key range, and disjoint ranges prove that no group spans partitions; otherwise (or for
    # several key columns) the check pass runs before anything is put in place
    meta_batch_dask(ddf, cols, yi, vi, method, test, level, control, check=False)  # arguments
    from evsynth.files import make_dir

    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        make_dir(tmp)
    except OSError as exc:
        raise InputError(f"{dest}: cannot create the output folder: "
                         f"{exc.strerror or exc} ({exc.filename or tmp}); expected a folder "
                         "path you can write to") from None
    # one task per partition: fit it where it was read and write its results (no transfer)
    parts = ddf[[*cols, yi, vi]].to_delayed()
    job = dask.delayed(_fit_and_write, pure=False)
    key = cols[0] if len(cols) == 1 else None
    tasks = [job(p, str(tmp / f"part.{i:05d}.parquet"), key, i, cols, yi, vi, method, test,
                 level, control) for i, p in enumerate(parts)]
    total = len(tasks)
    stats: list[tuple[int, int, Any, Any]] = []
    try:
        if cl is not None:
            from distributed import as_completed

            futs = cl.compute(tasks)
            where = {f.key: j for j, f in enumerate(futs)}
            got: list[Any] = [None] * total
            for i, fut in enumerate(as_completed(futs), 1):
                got[where[fut.key]] = fut.result()  # in partition order
                if progress is not None:
                    progress(i, total)
            stats = got
        else:
            from dask.callbacks import Callback

            names = {t.key for t in tasks}
            done = [0]

            class _Progress(Callback):
                def _posttask(self, key: Any, result: Any, dsk: Any, state: Any,
                              worker_id: Any) -> None:
                    if key in names:
                        done[0] += 1
                        if progress is not None:
                            progress(done[0], total)

            with _Progress():
                stats = list(dask.compute(*tasks, scheduler="threads"))
        # the kernels of the whole data set (fused from 2,048 groups), as the pandas path on
        # all of it: partitions with fewer groups were fitted with the numpy kernels and are
        # fitted again, pinned (small by definition; no pass over the data beforehand)
        from evsynth.models.kernels import FUSED_MIN_GROUPS

        n_groups = int(sum(st[0] for st in stats))
        small = [i for i, st in enumerate(stats) if 0 < st[0] < FUSED_MIN_GROUPS <= n_groups]
        if small:
            redo = [job(parts[i], str(tmp / f"part.{i:05d}.parquet"), key, i, cols, yi, vi,
                        method, test, level, control, n_groups) for i in small]
            again = (cl.gather(cl.compute(redo)) if cl is not None
                     else list(dask.compute(*redo, scheduler="threads")))
            for i, st in zip(small, again, strict=True):
                stats[i] = st
        ranges = [(st[2], st[3]) for st in stats if st[0]]
        if not _disjoint(ranges):  # the written partitions' keys, read back: exact
            _raise_if_split([pd.read_parquet(f, columns=cols)
                             for f in sorted(tmp.glob("part.*.parquet"))], cols)
        if force and os.path.lexists(dest):
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if cl is not None and isinstance(client, str):
            cl.close()
    return {"out": dest, "groups": int(sum(s[0] for s in stats)), "partitions": total,
            "not_converged": int(sum(s[1] for s in stats)),
            "seconds": time.perf_counter() - t0}
