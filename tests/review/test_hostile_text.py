"""Hostile text and slips in the input: numbers with digit separators are refused (never read as
other numbers), control and bidi characters never reach a terminal, an SVG figure or a report
raw (found by fuzzing the command line, session 11)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from review_helpers import OUTCOMES, REVIEW_TOML, STUDIES, make_review

import evsynth
from evsynth.cli import main
from evsynth.errors import InputError
from evsynth.textsafe import document_text, html_text, terminal_text

HOSTILE = "\x1b[31m\x07\x1b]0;title\x07\u202e\x9b"


# ------------------------------------------------------------------ digit separators
@pytest.mark.parametrize(("table", "field", "value"), [
    ("outcomes", "total", "4_0"), ("outcomes", "timepoint_weeks", "0_1"),
    ("outcomes", "mean", "3_5.0"), ("studies", "year", "20_01"),
    ("studies", "n_randomised", "4_0")])
def test_a_number_with_a_digit_separator_is_refused(tmp_path, capsys, table, field, value):
    """Python and pydantic read "1_0" as 10 and "19_88" as 1988: evsynth must not (it took
    such cells silently before: an events count of "1_0" became 10 and moved the pooled OR)."""
    studies = [dict(r) for r in STUDIES]
    outcomes = [dict(r) for r in OUTCOMES]
    rows = outcomes if table == "outcomes" else studies
    row = next(r for r in rows if r.get(field) not in (None, ""))
    row[field] = value
    d = make_review(tmp_path / "review", studies=studies, outcomes=outcomes)
    assert main(["validate", str(d)]) == 2
    err = capsys.readouterr().err
    assert f"{table}.csv: line" in err and f"field '{field}'" in err
    assert "digit separator" in err and value in err
    assert main(["run", str(d), "--quiet"]) == 2
    assert not (d / "output").exists()


def test_digit_separators_are_refused_by_the_python_entry_points():
    with pytest.raises(InputError, match=r"row 1: field 'yi' is '1_0'; expected a number"):
        evsynth.meta(["1_0", "0.5", "0.2"], [0.1, 0.1, 0.1])
    with pytest.raises(InputError, match=r"field 'ai' is '1_0'"):
        evsynth.effect_size("OR", ai=["1_0", 3], bi=[10, 10], ci=[3, 4], di=[10, 10])
    with pytest.raises(InputError, match=r"field 'lower': '1_0' is not a number"):
        evsynth.convert.se_from_ci("1_0", 2)
    # numbers as strings without separators are still numbers
    assert evsynth.meta(["1.0", "0.5", "0.2"], [0.1, 0.1, 0.1]).k == 3
    assert evsynth.convert.se_from_ci("1", "2") == pytest.approx(0.2551067284623)


# ------------------------------------------------------------------ terminal, HTML, SVG
def test_text_helpers():
    assert terminal_text("a\u202eb\u2066c\u2069") == "a[U+202E]b[U+2066]c[U+2069]"
    assert terminal_text("tab\tnew\nline") == "tab\tnew\nline"
    assert document_text("x\x1b[1m\x07\r\n\t") == "x^[[1m^G\r\n\t"
    assert document_text("\ud800\ufffe\uffff\u202e") == "\ufffd\ufffd\ufffd[U+202E]"
    assert document_text(None) == "" and document_text(1.5) == "1.5"
    assert html_text('<b a="1">\x1b') == "&lt;b a=&quot;1&quot;&gt;^["
    # Arabic, Hebrew and other scripts pass as they are
    assert document_text("ألم חולים Schmerz 疼痛") == "ألم חולים Schmerz 疼痛"


def test_argparse_errors_are_terminal_safe(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["validate", "somewhere", "\x1b]0;pwned\x07\x1b[2J\u202e"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: ^[]0;pwned^G^[[2J[U+202E]" in err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err


def test_control_characters_in_labels_leave_figures_well_formed(tmp_path):
    """An ESC or BEL in a label was written raw into the SVG figures (not well-formed XML: a
    browser shows an error instead of the plot) and into report.html."""
    toml = REVIEW_TOML.replace(
        'label = "Pain"', r'label = "Pain \u001b[31m\u0007\u001b]0;title\u0007\u202e\u009b"')
    assert toml != REVIEW_TOML
    studies = [dict(r) for r in STUDIES]
    d = make_review(tmp_path / "review", toml=toml, studies=studies)
    assert main(["run", str(d), "--quiet"]) == 0
    out = d / "output"
    svgs = sorted((out / "figures").glob("*.svg"))
    assert svgs
    for svg in svgs:
        ET.parse(svg)  # well-formed XML
    pain = [p for p in svgs if ".pain." in p.name]
    assert pain and any("Pain ^[[31m^G" in p.read_text(encoding="utf-8") for p in pain)
    for name, shown in (("report.html", "Pain ^[[31m^G"), ("report.md", r"Pain ^\[\[31m^G")):
        text = (out / name).read_text(encoding="utf-8")
        assert shown in text, name
        assert not any(c in text for c in "\x1b\x07\u202e\x9b"), name
    # the data themselves are kept as given (JSON escapes them)
    assert "Pain \\u001b[31m\\u0007" in (out / "results.json").read_text(encoding="utf-8")


def test_figure_bytes_svg_is_well_formed_with_hostile_text():
    from matplotlib.figure import Figure

    from evsynth.files import figure_bytes

    fig = Figure()
    ax = fig.add_subplot()
    ax.set_title("t" + HOSTILE)
    ax.plot(np.arange(3))
    svg = figure_bytes(fig, "svg")
    ET.fromstring(svg)
    assert b"t^[[31m^G" in svg


def test_control_characters_in_study_ids_are_refused(tmp_path, capsys):
    studies = [dict(r) for r in STUDIES]
    outcomes = [dict(r) for r in OUTCOMES]
    studies[0]["study_id"] = "S\x001"
    for r in outcomes:
        if r["study_id"] == "S1":
            r["study_id"] = "S\x001"
    d = make_review(tmp_path / "review", studies=studies, outcomes=outcomes)
    assert main(["validate", str(d)]) == 2
    err = capsys.readouterr().err
    assert "studies.csv: line 2" in err and "field 'study_id': holds a control character" in err


def test_screening_settings_refuse_impossible_or_hostile_reviewers():
    from evsynth.records.settings import parse_screening

    with pytest.raises(InputError, match=r"'reviewers_per_record' is 5, more than the 2 "
                                         r"reviewer\(s\)"):
        parse_screening({"screening": {"reviewers": ["A", "B"], "reviewers_per_record": 5}})
    with pytest.raises(InputError, match="expected names without control characters"):
        parse_screening({"screening": {"reviewers": ["A", "B\x1b[2J"]}})
    ok = parse_screening({"screening": {"reviewers": ["A", "B"], "reviewers_per_record": 2}})
    assert ok.reviewers_per_record == 2
    # without a list of reviewers the number cannot be checked (any team size)
    assert parse_screening({"screening": {"reviewers_per_record": 3}}).reviewers_per_record == 3


def test_png_figures_show_controls_as_the_svg_does():
    """Fuzz round 4: the control and bidi characters were filtered out of the SVG text only, so
    a PNG was drawn from the raw label: 'Drug \\u202eA sv B' displayed as 'Drug B vs A' (the
    comparison reversed on screen) and controls drew as boxes. Every text artist is now shown
    as document_text shows it, before any format is drawn; the forest plot also measures and
    truncates the label as shown."""
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    import evsynth
    from evsynth.files import figure_bytes

    fig = Figure()
    ax = fig.add_subplot()
    ax.set_title("Drug \u202eA sv B" + HOSTILE)
    ax.set_xticks([0, 1], ["a\x07", "b"])
    png = figure_bytes(fig, "png")
    assert png.startswith(b"\x89PNG")
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert "Drug [U+202E]A sv B^[[31m^G^[]0;title^G[U+202E]" + document_text("\x9b") in texts
    assert "a^G" in texts
    assert not any(c in t for t in texts for c in "\x1b\x07\u202e\x9b")

    fit = evsynth.meta([0.1, 0.3, -0.2], [0.01, 0.02, 0.03],
                       slab=["Smith 2001 \u202eevil", "x\x1b[2J", "c"])
    forest = evsynth.forest(fit)
    figure_bytes(forest, "png")
    texts = [t.get_text() for t in forest.findobj(Text)]
    assert "Smith 2001 [U+202E]evil" in texts and "x^[[2J" in texts
