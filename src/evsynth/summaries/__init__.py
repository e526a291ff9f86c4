"""Summaries of a review's analyses: GRADE certainty, Summary of Findings rows, plain-language key
results and study characteristics. They work on the plain dicts of results.json (see
``evsynth.review``), so each can be used and tested alone."""
