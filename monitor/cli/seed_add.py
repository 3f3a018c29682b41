"""``monitor seeds add PATH|URL``: put a document into the seed corpus."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from monitor import MonitorError
from monitor.config import Config
from monitor.ingest.extract_worker import extract_bounded
from monitor.ingest.fetch import Fetcher
from monitor.ingest.parse import normalise_encoding
from monitor.ingest.seeds import SEED_SUFFIXES, load_seed, seed_file_text, seed_filename


def add_seed(cfg: Config, source: str, *, title: str | None = None, language: str | None = None) -> Path:
    """Copy a local file, or fetch an article URL and store its extracted text. Returns the new file."""
    cfg.seeds.mkdir(parents=True, exist_ok=True)
    if urlsplit(source).scheme in ("http", "https"):
        return _add_url(cfg, source, title=title, language=language)
    src = Path(source)
    if not src.is_file():
        raise MonitorError(f"no such file: {src}")
    if src.suffix.lower() not in SEED_SUFFIXES:
        raise MonitorError(f"seed files are .txt or .md, got {src.name}")
    dest = cfg.seeds / src.name
    if dest.exists():
        raise MonitorError(f"{dest} already exists")
    if title or language:
        seed = load_seed(src)
        dest.write_text(seed_file_text(title or seed.title, seed.text, seed.url, language or seed.language),
                        encoding="utf-8")
    else:
        shutil.copyfile(src, dest)
    load_seed(dest)  # validate
    return dest


def _add_url(cfg: Config, url: str, *, title: str | None, language: str | None) -> Path:
    """Fetch and extract as the daemon does for full text: at most ``fetch.fulltext_max_bytes`` of
    page, extraction in a worker process bounded by ``fetch.fulltext_timeout`` and
    ``fetch.fulltext_memory`` (:mod:`monitor.ingest.extract_worker`)."""
    s = cfg.fetch

    async def get() -> tuple[str, str, str]:
        async with Fetcher(s) as f:
            res = await f.fetch(url, untrusted=True, max_bytes=s.fulltext_max_bytes)
        if not res.ok or res.body is None:
            raise MonitorError(f"cannot fetch {url}: {res.error}")
        html = normalise_encoding(res.body, res.content_type)[0].decode("utf-8", "replace")
        done = await extract_bounded(html, res.final_url, timeout=s.fulltext_timeout, memory=s.fulltext_memory,
                                     concurrency=1, with_title=True)
        if done.status != "ok" or done.text is None:
            raise MonitorError(f"could not extract an article from {url}: {done.error or done.status}")
        return done.text.strip(), (done.title or "").strip(), res.final_url

    text, found_title, final = asyncio.run(get())
    if len(text.split()) < 30:
        raise MonitorError(f"could not extract an article from {url} (found {len(text.split())} words)")
    title = title or found_title or text.split("\n", 1)[0][:120]
    dest = cfg.seeds / seed_filename(title, text)
    dest.write_text(seed_file_text(title, text, final, language), encoding="utf-8")
    return dest
