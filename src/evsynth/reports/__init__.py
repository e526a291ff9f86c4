"""Reports: forest plots and review documents (HTML, Markdown) built from results.json dicts."""
