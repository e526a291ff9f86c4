"""The review pipeline in memory: load a folder, analyse it, then write or render the results.

::

    import evsynth.review

    review = evsynth.review.load("examples/antibiotic_prophylaxis")
    res = evsynth.review.analyse(review)        # nothing written, no global state
    res.to_dict()                               # the content of results.json
    html = res.report_html()                    # the self-contained report, as a string
    res.write("out")                            # results.json, figures/, report.html, report.md
    res.write_docx("review.docx")               # SoF tables, forest plots, key results

``evsynth run`` is :func:`load` + :func:`analyse` + :meth:`ReviewResults.write`
(:func:`evsynth.review.pipeline.run`), so a web application or a notebook gets the same numbers,
tables and figures as the command line. :func:`analyse` runs the analyses
(:func:`evsynth.review.analysis.build_analyses`), the GRADE / Summary of Findings /
plain-language step (:func:`evsynth.review.pipeline.summarise_analyses`), the study
characteristics, the risk-of-bias section and the records section; figures are drawn only
when they are needed (:meth:`ReviewResults.report_html`, :meth:`ReviewResults.write_docx`,
:meth:`ReviewResults.write`), on :class:`matplotlib.figure.Figure` objects without pyplot.

References
----------
.. [1] Higgins JPT, Thomas J, Chandler J, et al., eds. (2023). Cochrane Handbook for
       Systematic Reviews of Interventions, version 6.4. https://training.cochrane.org/handbook
.. [2] Schünemann H, Brożek J, Guyatt G, Oxman A, eds. (2013). GRADE Handbook.
       https://gdt.gradepro.org/app/handbook/handbook.html

Examples
--------
>>> import evsynth.review
>>> from pathlib import Path
>>> folder = Path(evsynth.__file__).parents[2] / "examples" / "antibiotic_prophylaxis"
>>> res = evsynth.review.analyse(evsynth.review.load(folder))   # doctest: +SKIP
>>> res.to_dict()["analyses"][0]["k"]                            # doctest: +SKIP
16
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evsynth.errors import InputError
from evsynth.models.results import ResultMixin, to_jsonable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from evsynth.review.load import Review

__all__ = ["ReviewResults", "analyse", "load"]


def load(path: str | Path) -> Review:
    """Read and validate a review folder (``review.toml``, ``studies.csv``, ``outcomes.csv``).

    Parameters
    ----------
    path : str or path-like
        The review folder (docs/review-folder.md).

    Returns
    -------
    Review
        The validated review (:class:`evsynth.review.load.Review`).

    Raises
    ------
    InputError
        Listing every problem found (file, line or key, field, what was expected).

    References
    ----------
    .. [1] Higgins JPT et al., eds. (2023). Cochrane Handbook v6.4.
           https://training.cochrane.org/handbook

    Examples
    --------
    >>> import evsynth.review
    >>> try:
    ...     evsynth.review.load("no/such/folder")
    ... except evsynth.errors.InputError as exc:
    ...     print(str(exc).split(";")[0])
    no/such/folder: review folder not found
    """
    from evsynth.review.load import load_review

    return load_review(path)


def analyse(review: Review, progress: Callable[[int], None] | None = None) -> ReviewResults:
    """Analyse a loaded review in memory: every comparison x outcome x window, GRADE,
    Summary of Findings, plain-language key results, study characteristics, risk of bias and
    the records section. Writes nothing and keeps no state between calls.

    Parameters
    ----------
    review : Review
        From :func:`load`.
    progress : callable, optional
        Called with 1 after each comparison x outcome x window combination (e.g. a progress
        bar's ``update``).

    Returns
    -------
    ReviewResults

    References
    ----------
    .. [1] Higgins JPT et al., eds. (2023). Cochrane Handbook v6.4, chapters 10 and 14.
           https://training.cochrane.org/handbook
    .. [2] Guyatt GH, Oxman AD, Akl EA, et al. (2011). GRADE guidelines: 1. Introduction --
           GRADE evidence profiles and summary of findings tables. *J Clin Epidemiol*
           64(4):383-394. doi:10.1016/j.jclinepi.2010.04.026

    Examples
    --------
    >>> import evsynth.review
    >>> try:
    ...     evsynth.review.analyse("a folder")
    ... except evsynth.errors.InputError as exc:
    ...     print(str(exc).split(";")[0])
    argument 'review' is str
    """
    from evsynth.review.load import Review as _Review
    from evsynth.review.pipeline import analysis_results

    if not isinstance(review, _Review):
        raise InputError(f"argument 'review' is {type(review).__name__}; expected a Review "
                         "from evsynth.review.load(path)")
    if progress is not None and not callable(progress):
        raise InputError(f"argument 'progress' is {type(progress).__name__}; expected a "
                         "callable taking the number of finished analyses, or None")
    results = analysis_results(review, progress=progress, started=datetime.now(UTC))
    return ReviewResults(results, review)


class ReviewResults(ResultMixin):
    """The results of :func:`analyse`: the content of results.json, with writers.

    ``results`` is the results.json dict (docs/results-schema.md); ``review`` the analysed
    :class:`~evsynth.review.load.Review`. Figures are drawn on demand and kept, so
    :meth:`report_html` and :meth:`write_docx` draw each figure once.
    """

    def __init__(self, results: dict[str, Any], review: Review | None = None) -> None:
        if not isinstance(results, dict) or "analyses" not in results:
            raise InputError("argument 'results' is not a results.json dict; expected the "
                             "value of evsynth.review.analyse(...).to_dict()")
        self.results = results
        self.review = review
        self._figures: dict[tuple[str, str, str], bytes] = {}

    # ---------------------------------------------------------------- contract
    def to_dict(self) -> dict[str, Any]:
        """The content of results.json (JSON-safe: NaN as null).

        Returns
        -------
        dict
        """
        out: dict[str, Any] = to_jsonable(self.results)
        out.pop("output_dir", None)
        return out

    def to_json(self) -> str:
        """results.json as text (what :meth:`write` writes).

        Returns
        -------
        str
        """
        from evsynth.review.results import results_json

        return results_json(self.to_dict())

    def to_frame(self) -> pd.DataFrame:
        """One row per analysis: id, measure, k, participants, pooled estimate and CI
        (analysis scale), I², excluded studies and GRADE certainty.

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        from evsynth.review.pipeline import summary_lines

        return pd.DataFrame(summary_lines(self.results))

    def summary_text(self) -> str:
        import math

        from evsynth.review.pipeline import summary_lines

        title = (self.results.get("review") or {}).get("title") or "Review"
        lines = summary_lines(self.results)
        out = [f"{title}: {len(lines)} analyses"]
        for rec in lines:
            if not rec["k"] or rec["estimate"] is None:
                out.append(f"  {rec['id']}: no data")
                continue
            f = (math.exp if rec["log_scale"] else float)
            out.append(f"  {rec['id']}: {rec['measure']} {f(rec['estimate']):.2f} "
                       f"[{f(rec['ci_lb']):.2f}, {f(rec['ci_ub']):.2f}] (k = {rec['k']}; "
                       f"certainty: {rec['certainty'] or 'not assessed'})")
        return "\n".join(out)

    # ---------------------------------------------------------------- figures
    def _figure(self, kind: str, key: str, fmt: str) -> bytes:
        """The bytes of one figure (``kind`` forest/funnel/rob, ``key`` analysis or figure
        id), drawn once."""
        from evsynth.files import figure_bytes
        from evsynth.review.pipeline import figure_jobs, figure_of, modules

        cache = (kind, key, fmt)
        if cache not in self._figures:
            mods, _ = modules()
            for k, item in figure_jobs(self.results, mods):
                ident = item["figure"]["id"] if k == "rob" else item["id"]
                # network figures are listed with the forest plots (figure_paths)
                if (k == kind or (k, kind) == ("network", "forest")) and ident == key:
                    self._figures[cache] = figure_bytes(figure_of((k, item), mods), fmt)
                    break
            else:
                raise InputError(f"no {kind} figure {key!r} in these results")
        return self._figures[cache]

    def _svgs(self) -> dict[str, dict[str, str]]:
        from evsynth.review.pipeline import figure_paths

        return {kind: {key: self._figure(kind, key, "svg").decode("utf-8") for key in paths}
                for kind, paths in figure_paths(self.results, "svg").items()}

    # ---------------------------------------------------------------- outputs
    def report_html(self) -> str:
        """The report as one self-contained HTML document (inline CSS and SVG figures, no
        script, no network): the same text as the ``report.html`` :meth:`write` writes.

        Returns
        -------
        str
        """
        from evsynth.reports.html import render_html

        svgs = self._svgs()
        return render_html(self.results, svgs["forest"], funnel_svg=svgs["funnel"],
                           rob_svg=svgs["rob"])

    def report_markdown(self) -> str:
        """The Markdown report (figures as links to ``figures/``, as :meth:`write` writes it).

        Returns
        -------
        str
        """
        from evsynth.reports.markdown import render_markdown
        from evsynth.review.pipeline import figure_paths

        paths = figure_paths(self.results, "svg")
        return render_markdown(self.results, paths["forest"], funnel_paths=paths["funnel"],
                               rob_paths=paths["rob"])

    def write(self, out_dir: str | Path, force: bool = False, *, docx: bool = False) -> Path:
        """Write the output folder: results.json, figures/ (SVG and PNG), report.html,
        report.md (and report.docx when ``docx``), atomically: built in a temporary folder
        and swapped into place, so a failure leaves the previous output or nothing.

        Parameters
        ----------
        out_dir : str or path-like
            The output folder. An existing one is replaced only when it is evsynth's output
            holding nothing evsynth did not write (unless ``force``).
        force : bool
            Replace an evsynth output folder even if it holds other files.
        docx : bool
            Write report.docx too (:meth:`write_docx`).

        Returns
        -------
        pathlib.Path
            The output folder.
        """
        from evsynth.review.pipeline import write_output

        return write_output(self.results, out_dir, force=force, docx=docx,
                            review_path=self.review.path if self.review is not None else None)

    def write_docx(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the Word report: the Summary of Findings tables in GRADEpro's layout, the
        forest plots (PNG) and the key results (:func:`evsynth.reports.docx.write_docx`).

        Parameters
        ----------
        path : str or path-like
            The .docx file (written atomically).
        force : bool
            Replace an existing file evsynth did not write.

        Returns
        -------
        pathlib.Path
        """
        from evsynth.reports.docx import write_docx
        from evsynth.review.pipeline import figure_paths

        pngs = {aid: self._figure("forest", aid, "png")
                for aid in figure_paths(self.results, "png")["forest"]}
        return write_docx(self.to_dict(), path, figures=pngs, force=force)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()
