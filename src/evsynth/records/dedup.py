"""Finding duplicate records (the same reference retrieved from several databases).

Method (after the rule-based deduplicators evaluated by Rathbone et al. 2015, Syst Rev 4:80,
"A comparison of the performance of seven key bibliographic database deduplication tools",
and ASySD, Hair et al. 2023, BMC Biology 21:189):

1. exact identifiers: same PMID, or same DOI with compatible titles, years, volumes and pages;
2. fuzzy matching of normalised titles (rapidfuzz Levenshtein ratio) inside blocks (title
   start, title end, first author + year, first page + year), checked against year, first
   author, pages, volume and "erratum/comment/reply" markers;
3. union-find of the accepted pairs into ``duplicate_group``; pairs in a grey zone are listed
   in ``attrs["uncertain_pairs"]`` for a human to decide.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz

from evsynth.errors import InputError
from evsynth.records.model import (
    RECORD_COLUMNS,
    normalise_author,
    normalise_doi,
    normalise_pages,
    normalise_pmid,
    normalise_text,
    normalise_title,
)

#: words marking notices about another paper (a duplicate title that is not the same paper)
_NOTICE = re.compile(
    r"^(?:re|erratum|errata|correction|corrigendum|comment|reply|response|retraction|"
    r"retracted|expression of concern|withdrawn|author s reply|authors reply|in reply)\b|"
    r"\b(?:erratum|corrigendum|retraction notice|reply to|comment on|response to)\b")
_TRAILING_NOTE = re.compile(r"\s*[\[(][^\[\]()]{2,40}[\])]\s*\.?\s*$")
#: text appended to a title: "[Erratum appears in ...]", "(vol 360, pg 542, 2009)",
#: "... N Engl J Med. 2009;360(5):544-6"
_APPENDED = re.compile(r"(?:(?<=.{20})\s*\.?\s*\[(?:erratum|comment|retraction|update|summary"
                       r"|see|note|corrected)[^\n]*$|\s*\((?:vol|New England)[^()]*(?:\([^()]*\)"
                       r"[^()]*)*\)\s*$|\.\.\..*$)", re.IGNORECASE)
#: notices recognised only with their colon on the raw title ("Withdrawal: <title>"): the
#: bare words also start ordinary titles ("Withdrawal of antidepressants ...")
_NOTICE_COLON = re.compile(r"^\W*(?:withdrawal|withdrawn|retraction|retracted|notice of "
                           r"retraction|retraction note|letter|erratum|correction)\s*:",
                           re.IGNORECASE)
_CONFERENCE = re.compile(r"\b(?:conference|congress|meeting|symposium|abstracts?|proceedings)\b")
_STOP = frozenset("a an the of in on for and or to with by at from as is are be".split())
#: spellings of one discriminating token ("phase ii" = "phase 2", "vs" = "versus")
_TOKEN_EQUIV = {r: str(n) for n, r in enumerate(
    "i ii iii iv v vi vii viii ix x xi xii xiii xiv xv xvi xvii xviii xix xx".split(), start=1)}
_TOKEN_EQUIV.update({w: str(n) for n, w in enumerate(
    "one two three four five six seven eight nine ten".split(), start=1)})
_TOKEN_EQUIV.update({"vs": "versus", "v": "versus", "first": "1", "second": "2",
                     "third": "3", "1st": "1", "2nd": "2", "3rd": "3"})
#: titles that name a kind of item, not a paper: equal titles say nothing about identity
_GENERIC_TITLE = re.compile(
    r"^(?:editorial|editorials|introduction|foreword|preface|commentary|comment|letter|letters|"
    r"letter to the editor|letters to the editor|correspondence|in this issue|this issue|"
    r"news|news in brief|obituary|book reviews?|reviews?|abstracts?|summary|highlights|"
    r"announcements?|errata|erratum|correction|corrections|reply|response|editor s note|"
    r"editors note|guest editorial|preamble|acknowledg(?:e)?ments?|reviewers|contents|index|"
    r"table of contents|notes|case reports?|images in \w+(?: \w+)?|from the editor|"
    r"from the editors|president s message|message from the \w+|year in review|"
    r"conference report|meeting report)$")

UNCERTAIN_COLUMNS = ["record_id_a", "record_id_b", "score", "reason"]


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def title_key(title: Any) -> str:
    """Matching key of a title: :func:`normalise_title` after dropping a trailing bracketed
    note such as ``[Chinese]`` or ``(author's transl)``."""
    if title is None or (isinstance(title, float) and np.isnan(title)):
        return ""
    s = str(title)
    for pat in (_APPENDED, _TRAILING_NOTE):
        stripped = pat.sub("", s)
        if len(normalise_title(stripped)) >= 10:
            s = stripped
    return normalise_title(s)


def _first_page(p: str) -> str:
    return p.split("-", 1)[0] if p else ""


def _prepare(df: pd.DataFrame) -> dict[str, list[Any]]:
    """Matching keys per record (lists indexed by position)."""
    need = ["title", "year"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"deduplicate(): the record table lacks column(s) {missing}; "
                         "expected the table returned by evsynth.records.read()")
    n = len(df)

    def col(name: str) -> list[Any]:
        return df[name].tolist() if name in df.columns else [None] * n

    k: dict[str, list[Any]] = {}
    k["title"] = [title_key(t) for t in col("title")]
    k["words"] = [frozenset(t.split()) for t in k["title"]]
    k["notice"] = [bool(_NOTICE.search(t) or _NOTICE_COLON.match(str(raw)))
                   for t, raw in zip(k["title"], col("title"), strict=True)]
    k["generic"] = [_generic_title(t) for t in k["title"]]
    first = col("first_author")
    if all(a is None for a in first) and "authors" in df.columns:
        from evsynth.records.model import first_author_surname

        first = [first_author_surname(a if isinstance(a, list) else None) for a in col("authors")]
    k["author"] = [normalise_author(a) for a in first]
    k["author_words"] = [frozenset(w for w in normalise_title(a).split() if len(w) > 1)
                         for a in first]
    years = pd.array(df["year"], dtype="Int64")
    k["year"] = [None if pd.isna(y) else int(y) for y in years]
    k["doi"] = [normalise_doi(d) or "" for d in col("doi")]
    k["pmid"] = [normalise_pmid(p) or "" for p in col("pmid")]
    k["page"] = [_first_page(normalise_pages(p)) for p in col("pages")]
    k["volume"] = [normalise_text(v) for v in col("volume")]
    k["journal"] = [normalise_text(j) for j in col("journal")]
    k["conference"] = [bool(_CONFERENCE.search(j)) for j in k["journal"]]
    return k


def _blocks(k: dict[str, list[Any]]) -> dict[str, list[int]]:
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, (t, a, y, p, d, pm) in enumerate(zip(k["title"], k["author"], k["year"], k["page"],
                                                 k["doi"], k["pmid"], strict=True)):
        words = [w for w in t.split() if w not in _STOP]
        if len(words) >= 2:
            blocks["s:" + " ".join(words[:3])].append(i)
            blocks["e:" + " ".join(words[-3:])].append(i)
        elif t:
            blocks["t:" + t].append(i)
        if a and y is not None:
            blocks[f"a:{a}:{y}"].append(i)
        if p and y is not None and len(p) > 1:
            blocks[f"p:{p}:{y}"].append(i)
        if d:
            blocks["d:" + d].append(i)
        if pm:
            blocks["m:" + pm].append(i)
    return blocks


def _candidate_pairs(blocks: dict[str, list[int]], max_block: int) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for key, members in blocks.items():
        if len(members) < 2:
            continue
        if len(members) > max_block and not key.startswith(("d:", "m:")):
            continue  # uninformative block (e.g. "s:effect of the"): other keys cover it
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                i, j = members[x], members[y]
                pairs.add((i, j) if i < j else (j, i))
    return pairs


def _generic_title(t: str) -> bool:
    """True for a title that names a kind of item ("Editorial", "Introduction", "Letter to
    the editor") or is too short to identify a paper (one or two content words)."""
    if not t:
        return False
    return bool(_GENERIC_TITLE.match(t)) or len([w for w in t.split() if w not in _STOP]) <= 2


def _discriminating(w: str) -> bool:
    """A short token that changes what a title is about when it changes: a number, a roman
    numeral, a single letter or a word of <= 3 letters ("type 1"/"type 2", "phase ii"/"iii",
    "vitamin d"/"e", "il 6"/"il 8", "men"/"women", "pre"/"post")."""
    return len(w) <= 3 or any(c.isdigit() for c in w)


def _short_token_conflict(ti: str, tj: str) -> bool:
    """True when the titles' word sequences differ by a substitution that involves a short
    discriminating token (:func:`_discriminating`): "type 1"/"type 2", "phase ii"/"iii",
    "vitamin d"/"e", "il 6"/"il 8", "men"/"women", "pre"/"post operative", "part 1"/"part
    2". Roman numerals, number words and "vs"/"versus" are equated first. Not conflicts:
    words added on one side (subtitles, "[abstract]", an acronym in brackets), the same
    letters split differently ("p16ink4a"/"p16 ink4a"), a misspelling of a long run
    ("p6ink4a"/"p16ink4a") and a title cut short in its last word ("... fac"/"... fact")."""
    a = [_TOKEN_EQUIV.get(w, w) for w in ti.split() if w not in _STOP]
    b = [_TOKEN_EQUIV.get(w, w) for w in tj.split() if w not in _STOP]
    sm = SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op != "replace":
            continue
        wa, wb = a[i1:i2], b[j1:j2]
        if not any(_discriminating(w) for w in wa + wb):
            continue
        ja, jb = "".join(wa), "".join(wb)
        if ja == jb:
            continue
        if min(len(ja), len(jb)) >= 5 and fuzz.ratio(ja, jb) >= 90:
            continue
        if (i2 == len(a) or j2 == len(b)) and len(min(ja, jb, key=len)) >= 3 and (
                ja.startswith(jb) or jb.startswith(ja)):
            continue  # truncated title
        return True
    return False


def _word_conflict(wi: frozenset[str], wj: frozenset[str], ti: str = "", tj: str = "") -> bool:
    """True when each title has a content word the other lacks that is not a spelling
    variant of one of the other's words ("adult" vs "pediatric", not "centre" vs "center"),
    or when a short discriminating token was substituted (:func:`_short_token_conflict`).
    Titles equal once spaces are removed ("il 6" vs "il6") do not conflict."""
    if ti and tj:
        if ti.replace(" ", "") == tj.replace(" ", ""):
            return False
        if _short_token_conflict(ti, tj):
            return True
    only_i = [w for w in wi - wj if len(w) > 3 and w not in _STOP]
    only_j = [w for w in wj - wi if len(w) > 3 and w not in _STOP]
    if not only_i or not only_j:
        return False
    unmatched = [w for w in only_i if not any(fuzz.ratio(w, v) >= 75 for v in only_j)]
    return bool(unmatched)


_PAGE_NUMBER = re.compile(r"^[a-z]{0,2}(\d+)$")


def _pages_conflict(pi: str, pj: str) -> bool:
    """True when two first pages are both page numbers (``123``, ``S299``, ``e1234``) and
    differ (and neither is the other's tail); text such as "na" or "nov 19" is no
    evidence."""
    if not pi or not pj or pi == pj:
        return False
    mi, mj = _PAGE_NUMBER.match(pi), _PAGE_NUMBER.match(pj)
    if not (mi and mj):
        return False
    a, b = mi.group(1), mj.group(1)
    # "i428" vs "1428" (a misread digit): one number the tail of the other is no evidence
    return not (a.endswith(b) or b.endswith(a))


def _journal_words(j: str) -> list[str]:
    return [w for w in j.split() if w not in _STOP]


def _journal_conflict(ji: str, jj: str) -> bool:
    """True when two (normalised) journal names are clearly different journals: neither is an
    abbreviation (ISO/NLM word prefixes, "am j clin dermatol" = "american journal of
    clinical dermatology") or acronym ("bmj") of the other, and they are not near-equal."""
    if not ji or not jj or ji == jj:
        return False
    if fuzz.token_set_ratio(ji, jj) >= 90:
        return False
    a, b = _journal_words(ji), _journal_words(jj)
    if not a or not b:
        return False
    for short, long_ in ((a, b), (b, a)):
        # every word of the short form a prefix of the next matching word of the long form
        pos = 0
        for w in short:
            while pos < len(long_) and not long_[pos].startswith(w):
                pos += 1
            if pos == len(long_):
                break
            pos += 1
        else:
            return False
        if len(short) == 1 and len(short[0]) >= 2:
            initials = "".join(w[0] for w in long_)
            if initials.startswith(short[0]) or short[0] in initials:
                return False
    return True


def _compare(k: dict[str, list[Any]], i: int, j: int, title_threshold: float,
             uncertain_threshold: float, year_tolerance: int) -> tuple[str, float, str]:
    """Classify one pair: ``("dup" | "uncertain" | "no", score, reason)``."""
    ti, tj = k["title"][i], k["title"][j]
    t_sim = 0.0
    if ti and tj:
        t_sim = 1.0 if ti == tj else max(fuzz.ratio(ti, tj),
                                         0.99 * fuzz.token_sort_ratio(ti, tj)) / 100.0
    pm_i, pm_j = k["pmid"][i], k["pmid"][j]
    d_i, d_j = k["doi"][i], k["doi"][j]
    yi, yj = k["year"][i], k["year"][j]
    year_ok = yi is None or yj is None or abs(yi - yj) <= year_tolerance
    ai, aj = k["author"][i], k["author"][j]
    author_sim = None
    if ai and aj:
        author_sim = fuzz.ratio(ai, aj) / 100.0
        if ai.startswith(aj) or aj.startswith(ai) or k["author_words"][i] & k["author_words"][j]:
            author_sim = max(author_sim, 0.9)
    pi, pj = k["page"][i], k["page"][j]
    same_page = bool(pi and pi == pj)
    vi, vj = k["volume"][i], k["volume"][j]
    same_volume = bool(vi and vi == vj)
    same_place = same_page and same_volume  # same volume and first page: same article

    if pm_i and pm_j:
        if pm_i == pm_j:
            return "dup", 1.0, "same PMID"
        # different PMIDs are different PubMed records
        if t_sim >= uncertain_threshold:
            return "uncertain", t_sim, "similar titles but different PMIDs"
        return "no", t_sim, ""
    if d_i and d_i == d_j:
        # a DOI is shared by the abstracts of a supplement and mis-keyed in exports: a shared
        # DOI with clearly conflicting details goes to review, not into one group
        if ti and tj and t_sim < 0.75 and not same_place:
            if pi and pj and pi != pj:
                return "no", t_sim, ("same DOI (of a supplement/issue) but different titles "
                                     "and pages")
            return "uncertain", t_sim, "same DOI but different titles"
        doi_conflicts = []
        if not year_ok:
            doi_conflicts.append(f"years {yi} vs {yj}")
        if _pages_conflict(pi, pj):
            # electronic vs print pagination differ in real duplicates: a page conflict
            # counts with a second discrepancy (volume, a title word)
            if vi.isdigit() and vj.isdigit() and vi != vj:
                doi_conflicts.append(f"volumes {vi} vs {vj}; pages {pi} vs {pj}")
            elif ti and tj and t_sim < 1.0 and _word_conflict(k["words"][i], k["words"][j],
                                                              ti, tj):
                doi_conflicts.append(f"titles differ in a content word; pages {pi} vs {pj}")
        if not doi_conflicts:
            return "dup", max(t_sim, 0.99), "same DOI"
        return "uncertain", t_sim, "same DOI but " + "; ".join(doi_conflicts)
    if not (ti and tj):
        return "no", 0.0, ""
    conflicts = []
    if not year_ok:
        conflicts.append(f"years {yi} vs {yj}")
    if author_sim is not None and author_sim < 0.6 and not same_place:
        conflicts.append("different first authors")
    if pi and pj and pi != pj:
        conflicts.append(f"pages {pi} vs {pj}")
    if vi and vj and vi != vj and vi.isdigit() and vj.isdigit():
        conflicts.append(f"volumes {vi} vs {vj}")
    if k["notice"][i] != k["notice"][j] and not same_place:
        conflicts.append("one is an erratum/comment/reply")
    if d_i and d_j and d_i != d_j:
        conflicts.append("different DOIs")
    if k["conference"][i] != k["conference"][j] and not same_place:
        conflicts.append("conference abstract vs article")
    if t_sim < 1.0 and t_sim >= uncertain_threshold and _word_conflict(
            k["words"][i], k["words"][j], ti, tj):
        conflicts.append("titles differ in a content word")
    # equal generic titles ("Editorial") or recurring column titles with nothing else in
    # common (no first author, page or volume agreeing) are told apart by their journals
    unsupported = not (same_page or same_volume or (author_sim is not None
                                                     and author_sim >= 0.8))
    if (k["generic"][i] or k["generic"][j] or unsupported) and _journal_conflict(
            k["journal"][i], k["journal"][j]):
        conflicts.append(f"journals {k['journal'][i]} vs {k['journal'][j]}")
    if t_sim >= title_threshold and not conflicts:
        if (k["generic"][i] or k["generic"][j]) and unsupported and not (d_i and d_i == d_j):
            # "Editorial" 2019 twice: nothing says it is the same editorial
            return "uncertain", t_sim, "same generic title, no author/page/volume to compare"
        return "dup", t_sim, "same title"
    # agreeing bibliographic details rescue a slightly different title
    # (translations, subtitles, section headings, typos)
    support = (author_sim is not None and author_sim >= 0.8) + bool(
        yi is not None and yi == yj) + same_page + same_volume
    if not conflicts and support >= 3 and t_sim >= uncertain_threshold:
        return "dup", t_sim, "similar title, same author/year/pages/volume"
    if not conflicts and support == 4 and fuzz.token_set_ratio(ti, tj) >= 90:
        return "dup", t_sim, "title contained in the other, same author/year/pages/volume"
    if t_sim >= title_threshold:
        # same title but a real difference: possibly a different paper (conference abstract,
        # erratum, update); pairs with a single minor difference go to review
        if len(conflicts) == 1 and year_ok and not conflicts[0].startswith(
                ("one is", "different DOIs")):
            return "uncertain", t_sim, "same title but " + conflicts[0]
        return "no", t_sim, "; ".join(conflicts)
    if t_sim >= uncertain_threshold:
        why = "similar titles" + (" but " + "; ".join(conflicts) if conflicts else "")
        return "uncertain", t_sim, why
    return "no", t_sim, ""


def deduplicate(df: pd.DataFrame, *, title_threshold: float = 0.95,
                uncertain_threshold: float = 0.85, year_tolerance: int = 1,
                max_block: int = 300) -> pd.DataFrame:
    """Mark duplicate records: a copy of ``df`` with an int column ``duplicate_group``.

    Records in one group are one reference; singletons get a group of their own. Groups are
    numbered 0.. in order of their first record.

    Parameters
    ----------
    df : pandas.DataFrame
        Records, e.g. from :func:`read` (columns of :data:`RECORD_COLUMNS`; at least
        ``record_id`` and ``title``).
    title_threshold : float, default 0.95
        Normalised-title similarity (rapidfuzz ``ratio``, 0..1) at which a pair with no
        conflicting detail (year within ``year_tolerance``, first author, first page, volume,
        DOI, erratum/comment markers) is a duplicate.
    uncertain_threshold : float, default 0.85
        Lower end of the grey zone; pairs between it and the threshold (or above it with one
        conflicting detail) are listed in ``attrs["uncertain_pairs"]`` (columns record_id_a,
        record_id_b, score, reason) and not merged.
    year_tolerance : int, default 1
        Years by which the publication years of duplicates may differ.
    max_block : int, default 300
        Blocks larger than this (very common title words) are not compared all-pairs.

    Returns
    -------
    pandas.DataFrame
        A copy of ``df`` with the int column ``duplicate_group``; :func:`merge_duplicates`
        keeps one record per group.

    Examples
    --------
    >>> import pandas as pd
    >>> from evsynth import records
    >>> df = pd.DataFrame({
    ...     "record_id": ["r1", "r2", "r3"],
    ...     "title": ["BCG vaccination against tuberculosis: a trial",
    ...               "BCG Vaccination Against Tuberculosis: A Trial.",
    ...               "Isoniazid preventive therapy in contacts"],
    ...     "first_author": ["Aronson", "Aronson", "Ferebee"], "year": [1948, 1948, 1962]})
    >>> records.deduplicate(df)["duplicate_group"].tolist()
    [0, 0, 1]
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError("deduplicate(): expected a DataFrame from evsynth.records.read(), got "
                         f"{type(df).__name__}")
    for name, v in (("title_threshold", title_threshold),
                    ("uncertain_threshold", uncertain_threshold)):
        if not (isinstance(v, (int, float)) and 0 < v <= 1):
            raise InputError(f"deduplicate(): {name}={v!r}; expected a number in (0, 1]")
    if uncertain_threshold > title_threshold:
        raise InputError(f"deduplicate(): uncertain_threshold={uncertain_threshold} is above "
                         f"title_threshold={title_threshold}; expected it to be lower")
    if not (isinstance(year_tolerance, (int, np.integer)) and year_tolerance >= 0):
        raise InputError(f"deduplicate(): year_tolerance={year_tolerance!r}; expected an "
                         "integer >= 0")
    out = df.copy()
    n = len(out)
    ids = (out["record_id"].astype(str).tolist() if "record_id" in out
           else [str(i) for i in range(n)])
    if n == 0:
        out["duplicate_group"] = pd.Series([], dtype="int64")
        out.attrs["uncertain_pairs"] = pd.DataFrame(columns=UNCERTAIN_COLUMNS)
        return out
    k = _prepare(out)
    pairs = _candidate_pairs(_blocks(k), max_block)
    uf = _UnionFind(n)
    uncertain: list[tuple[str, str, float, str]] = []
    for i, j in sorted(pairs):
        verdict, score, reason = _compare(k, i, j, title_threshold, uncertain_threshold,
                                          year_tolerance)
        if verdict == "dup":
            uf.union(i, j)
        elif verdict == "uncertain":
            uncertain.append((ids[i], ids[j], round(float(score), 4), reason))
    roots = [uf.find(i) for i in range(n)]
    numbering: dict[int, int] = {}
    out["duplicate_group"] = np.array([numbering.setdefault(r, len(numbering)) for r in roots],
                                      dtype=np.int64)
    unc = pd.DataFrame(uncertain, columns=UNCERTAIN_COLUMNS)
    if len(unc):
        grp = dict(zip(ids, out["duplicate_group"], strict=True))
        same = [grp[a] == grp[b] for a, b in zip(unc["record_id_a"], unc["record_id_b"],
                                                   strict=True)]
        unc = unc[~np.array(same)].reset_index(drop=True)
    out.attrs["uncertain_pairs"] = unc
    return out


def deduplicate_store(store: Any) -> str:
    """Automatic deduplication of a whole :class:`~evsynth.records.store.Store` (``evsynth
    records dedup`` and the web app's records page): :func:`deduplicate` over every stored
    record, the groups and uncertain pairs stored (``method="auto"``; manual decisions are
    kept). Returns the summary line: records, unique, duplicates removed, uncertain pairs."""
    df = store.records()
    out = deduplicate(df[list(RECORD_COLUMNS)])
    groups = dict(zip(out["record_id"], out["duplicate_group"].astype(int), strict=True))
    unc = out.attrs.get("uncertain_pairs")
    store.set_duplicate_groups(groups, method="auto", uncertain=unc)
    g = store.duplicate_groups()
    n, n_groups = len(g), len(set(g.values()))
    n_unc = 0 if unc is None else len(unc)
    return (f"{n} records; {n_groups} unique after deduplication; {n - n_groups} duplicates "
            f"removed; {n_unc} uncertain pairs to check")


def _merge_values(values: Iterable[Any]) -> Any:
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            continue
        if isinstance(v, (list, dict)) and not v:
            continue
        return v
    return None


def merge_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    """One row per ``duplicate_group``: the first non-missing value of each column (records in
    file order), lists and ids united, and ``source_databases`` / ``record_ids`` listing every
    member. Run :func:`deduplicate` first."""
    if "duplicate_group" not in df.columns:
        raise InputError("merge_duplicates(): the table has no 'duplicate_group' column; "
                         "run evsynth.records.deduplicate() first")
    rows = []
    for g, sub in df.groupby("duplicate_group", sort=True):
        row: dict[str, Any] = {}
        for c in df.columns:
            vals = sub[c].tolist()
            if c in ("authors",):
                row[c] = max(vals, key=lambda v: len(v) if isinstance(v, list) else 0)
            elif c in ("keywords", "publication_type"):
                seen: list[str] = []
                for v in vals:
                    for x in v if isinstance(v, list) else []:
                        if x not in seen:
                            seen.append(x)
                row[c] = seen
            elif c == "other_ids":
                merged: dict[str, str] = {}
                for v in vals:
                    for kk, vv in (v or {}).items():
                        merged.setdefault(kk, vv)
                row[c] = merged
            else:
                row[c] = _merge_values(vals)
        dbs: list[str] = []
        for v in sub.get("source_database", pd.Series([None] * len(sub))):
            if v and v not in dbs:
                dbs.append(v)
        row["source_databases"] = dbs
        row["record_ids"] = sub["record_id"].tolist() if "record_id" in sub else []
        row["duplicate_group"] = g
        rows.append(row)
    out = pd.DataFrame(rows)
    if "year" in out:
        out["year"] = out["year"].astype("Int64")
    return out


# ----------------------------------------------------------------------------------------------
# evaluation against labelled sets
# ----------------------------------------------------------------------------------------------
def pairs_of(groups: Iterable[Any]) -> set[tuple[int, int]]:
    """All within-group pairs ``(i, j)``, ``i < j``, of positions sharing a group label
    (None/NaN labels are singletons)."""
    members: dict[Any, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        if g is None or (isinstance(g, float) and np.isnan(g)):
            continue
        members[g].append(i)
    out: set[tuple[int, int]] = set()
    for m in members.values():
        for x in range(len(m)):
            for y in range(x + 1, len(m)):
                out.add((m[x], m[y]))
    return out


def pair_metrics(true_groups: Iterable[Any], pred_groups: Iterable[Any]) -> dict[str, float]:
    """Precision and recall of duplicate pairs (Rathbone et al. 2015 count records; pairs are
    the stricter measure): returns tp, fp, fn, precision, recall, f1."""
    t, p = pairs_of(list(true_groups)), pairs_of(list(pred_groups))
    tp, fp, fn = len(t & p), len(p - t), len(t - p)
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": prec, "recall": rec, "f1": f1}


def flag_metrics(true_dup: Iterable[bool], pred_dup: Iterable[bool]) -> dict[str, float]:
    """Precision/recall of records flagged as members of a duplicate set."""
    t = np.asarray(list(true_dup), dtype=bool)
    p = np.asarray(list(pred_dup), dtype=bool)
    tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": prec, "recall": rec, "f1": f1}
