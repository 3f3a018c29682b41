"""Exact de-duplication keys: canonical URLs and content fingerprints.

These are the cheap first check, run before language detection and
translation. Near-duplicates (other wording, other language) are the job of
:mod:`monitor.analysis.neardup`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# query parameters that only track the reader, never select content
_TRACKING = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|yclid|ysclid|mc_cid|mc_eid|_openstat|from|ref|ref_src|"
    r"cmpid|ncid|ocid|igshid|spm|_ga|_gl|rss|rss_source|feed|feedname|at_medium|at_campaign)$",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)
MIN_FINGERPRINT_WORDS = 8  # shorter texts ("Photo of the day") collide too easily


def canonical_url(url: str | None) -> str | None:
    """Scheme and host normalised, default port, ``www.``, fragment and tracking parameters dropped,
    remaining parameters sorted. Two links to the same article give the same string."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    if host.startswith("www."):
        host = host[4:]
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k))
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/")
    # http and https of one host are the same article
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def normalise_words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return _WORD.findall(text)


def content_fingerprint(title: str, summary: str) -> str | None:
    """Hash of the words of title and summary (case, punctuation and spacing ignored),
    or None when there are too few words to tell items apart."""
    words = normalise_words(title) + ["\x00"] + normalise_words(summary)
    if len(words) - 1 < MIN_FINGERPRINT_WORDS:
        return None
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=16).hexdigest()


def without_tracking(url: str | None) -> str | None:
    """The link as published, minus the tracking parameters :func:`canonical_url` ignores
    (``?utm_source=rss``); scheme, host, path, other parameters and fragment stay as they are.
    Digests show this form."""
    if not url:
        return url
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _TRACKING.match(k)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))
