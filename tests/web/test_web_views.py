"""Pure helpers of the web views (no HTTP)."""

from __future__ import annotations

from evsynth.records.screener import highlight_pattern
from evsynth.web.views import highlight_segments, safe_file_name


def test_highlight_segments_inclusion_and_exclusion_terms():
    inc = highlight_pattern(["randomi*", "vertebroplasty"])
    exc = highlight_pattern(["cadaver*"])
    parts = highlight_segments("A Randomised trial of vertebroplasty in cadavers.", inc, exc)
    assert parts == [("", "A "), ("include", "Randomised"), ("", " trial of "),
                     ("include", "vertebroplasty"), ("", " in "), ("exclude", "cadavers"),
                     ("", ".")]
    assert "".join(p for _k, p in parts) == "A Randomised trial of vertebroplasty in cadavers."
    assert highlight_segments("plain", None, None) == [("", "plain")]
    # overlapping matches: the first wins, text is never duplicated or lost
    both = highlight_segments("cadaveric study", highlight_pattern(["cad*"]), exc)
    assert "".join(p for _k, p in both) == "cadaveric study"


def test_safe_file_name():
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("C:\\Users\\x\\My Export (1).ris") == "My_Export__1_.ris"
    assert safe_file_name(".hidden") == "hidden"
    assert safe_file_name("") == "upload"
    assert len(safe_file_name("a" * 500)) == 100
