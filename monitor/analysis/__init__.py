"""Analysis: pure functions of an entry (exact keys, language, translation, near-duplicates, stories, watchlists)."""
