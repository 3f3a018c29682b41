"""Seed corpus: documents the analyst has already read (``seeds/``).

A seed is a plain-text or Markdown file with an optional front-matter header::

    ---
    title: Central Asian leaders attend Victory Day parade in Moscow
    url: https://example.org/article
    date: 2023-05-09
    language: en
    ---
    Article text ...

Seeds are stored as items of a pseudo-feed named ``seeds`` so that they go
through language detection, translation and fingerprinting like any item,
but they are never matched or delivered.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from monitor import ConfigError, Problem, relpath
from monitor.analysis.text import shorten
from monitor.store.api import (
    SEED_FEED_URL as SEED_FEED_URL,  # re-exported: the pseudo-feed that holds the seeds (feeds.url, never fetched)
)

SEED_SUFFIXES = {".txt", ".md", ".markdown"}
SEED_FEED_NAME = "seeds"
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.DOTALL)
_FRONT_KEYS = {"title", "url", "date", "language"}


@dataclass(frozen=True)
class Seed:
    key: str  # file name, unique within seeds/
    path: Path
    title: str
    text: str
    url: str | None
    published: datetime | None
    language: str | None
    digest: str  # hash of the file, to notice edits


def load_seed(path: Path) -> Seed:
    raw = path.read_text(encoding="utf-8-sig")
    meta: dict = {}
    body = raw
    m = _FRONT.match(raw)
    if m:
        try:
            meta = YAML(typ="safe").load(m.group(1)) or {}
        except YAMLError as e:
            raise ConfigError([Problem(relpath(path), 2, None, "front matter", f"invalid YAML: {e}")]) from None
        if not isinstance(meta, dict):
            raise ConfigError([Problem(relpath(path), 2, None, "front matter", "expected key: value lines")])
        unknown = set(meta) - _FRONT_KEYS
        if unknown:
            raise ConfigError([Problem(relpath(path), 2, None, ", ".join(sorted(map(str, unknown))), "unknown key",
                                       "front matter knows title, url, date, language")])
        body = raw[m.end():]
    text = re.sub(r"[ \t]+", " ", body).strip()
    title = str(meta.get("title") or "").strip()
    if not title:
        first = text.split("\n", 1)[0].lstrip("# ").strip()
        title = shorten(first, 160)
    published = None
    d = meta.get("date")
    if isinstance(d, datetime):
        published = d if d.tzinfo else d.replace(tzinfo=timezone.utc)
    elif isinstance(d, date):
        published = datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
    lang = meta.get("language")
    return Seed(
        key=path.name, path=path, title=title, text=text, url=meta.get("url"), published=published,
        language=str(lang).lower() if lang else None,
        digest=hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16],
    )


def missing_seeds_note(directory: Path) -> str | None:
    """A note (not a problem) when there is no seed directory: everything works, nothing counts as read."""
    if directory.is_dir():
        return None
    return (f"note: {relpath(directory)}: no seed directory, so no item is suppressed as already read "
            f"(create it and add articles with `monitor seeds add PATH|URL`)")


def load_seeds(directory: Path) -> tuple[list[Seed], list[Problem]]:
    """Every seed document of ``directory`` and the problems of the broken ones.
    A missing directory is an empty corpus (see :func:`missing_seeds_note`), not a problem."""
    seeds: list[Seed] = []
    problems: list[Problem] = []
    if not directory.is_dir():
        return [], []
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in SEED_SUFFIXES or path.name.startswith("."):
            continue
        try:
            seeds.append(load_seed(path))
        except ConfigError as e:
            problems.extend(e.problems)
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Problem(relpath(path), None, None, "", f"cannot read seed: {e}"))
    return seeds, problems


def seed_file_text(title: str, text: str, url: str | None = None, language: str | None = None,
                   published: str | None = None) -> str:
    """Render a seed file with front matter (values JSON-quoted, which YAML reads)."""
    import json

    lines = ["---", f"title: {json.dumps(title, ensure_ascii=False)}"]
    if url:
        lines.append(f"url: {json.dumps(url)}")
    if published:
        lines.append(f"date: {published}")
    if language:
        lines.append(f"language: {language}")
    lines += ["---", text.strip(), ""]
    return "\n".join(lines)


def seed_filename(title: str, text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50] or "seed"
    return f"{slug}-{hashlib.sha1(text.encode()).hexdigest()[:8]}.md"


def extract_article(html: str, url: str | None = None) -> tuple[str, str]:
    """Main text and title of an article page (trafilatura)."""
    import trafilatura

    text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False,
                               favor_precision=True) or ""
    meta = trafilatura.extract_metadata(html, default_url=url)
    title = (meta.title if meta and meta.title else "") or ""
    return text.strip(), title.strip()
