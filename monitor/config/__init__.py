"""Load and validate config.yaml.

Every problem is collected (not just the first) and reported with the file,
line, column and dotted key it concerns. Relative paths resolve against the
config file's directory; ``$VAR`` / ``${VAR}`` in path values are expanded
from the environment (systemd's ``$STATE_DIRECTORY`` for instance).
"""

from __future__ import annotations

import email.utils
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from monitor import ConfigError, Problem, relpath
from monitor.analysis.text import is_email_address, is_language_code
from monitor.config.database_url import PostgresUrl, is_postgres_url, parse_postgres_url
from monitor.config.units import parse_duration, parse_size
from monitor.config.yaml_load import AliasBudgetError, load_yaml
from monitor.config.yamlcheck import ProblemCollector

DEFAULT_USER_AGENT = "news-monitor/0.1 (+https://github.com/news-monitor/news-monitor)"


@dataclass(frozen=True)
class FeedConfig:
    url: str
    name: str
    interval: float  # seconds
    language: str | None = None  # override of detection
    tags: tuple[str, ...] = ()
    enabled: bool = True
    fulltext: bool = False
    line: int | None = None  # where the feed is declared, for messages


@dataclass(frozen=True)
class FetchSettings:
    timeout: float = 20.0  # whole-request deadline, seconds
    connect_timeout: float = 10.0
    max_bytes: int = 5_000_000  # counted on decompressed bytes
    max_redirects: int = 5
    concurrency: int = 16
    per_host: int = 2
    min_host_delay: float = 0.0  # seconds between two requests to one host (feeds and articles)
    user_agent: str = DEFAULT_USER_AGENT
    backoff_base: float = 300.0  # first retry delay after a failure
    backoff_max: float = 6 * 3600.0
    allow_private_networks: bool = False
    fulltext_max_bytes: int = 2_000_000  # article pages: larger ones keep the feed's summary
    fulltext_timeout: float = 10.0  # seconds of extraction per page (in a worker process)
    fulltext_memory: int = 512 * 1024 * 1024  # address space the extraction worker may add (RLIMIT_AS)
    fulltext_concurrency: int = 2  # extraction workers at once, over all feeds


ROUTE_KINDS = ("argos", "multilingual", "pivot")  # monitor.analysis.translate.ROUTE_KINDS


@dataclass(frozen=True)
class TranslationSettings:
    enabled: bool = True
    target: str = "en"
    pairs: tuple[tuple[str, str], ...] = ()
    install_missing: bool = True
    # model kinds tried in order for every source language; per-language overrides
    prefer: tuple[str, ...] = ROUTE_KINDS
    languages: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ("kk", ("multilingual",)), ...
    multilingual_model: str | None = None  # which installed multilingual model, when several
    download_timeout: float = 900.0  # whole-operation deadline of an unattended model download
    device: str = "cpu"  # where CTranslate2 runs: cpu, cuda, or auto (cuda when a CUDA device is seen)
    remote: bool = False  # leave translation to `monitor run --translate-only` workers (PostgreSQL only)


@dataclass(frozen=True)
class DedupSettings:
    threshold: float = 0.45
    story_window: float = 3 * 86400.0  # reports further apart join a story only as near-copies


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    from_addr: str = "news-monitor@localhost"


@dataclass(frozen=True)
class EmailSettings:
    """What one e-mail digest may carry (the ``email:`` block); the rest is named in the mail."""

    max_stories: int = 50
    max_bytes: int = 1_000_000  # the whole message as sent (both parts, encoded)


@dataclass(frozen=True)
class WebhookSettings:
    """What one webhook payload may carry (the ``webhook:`` block); the payload counts the rest."""

    max_stories: int = 50


@dataclass(frozen=True)
class Config:
    path: Path
    feeds: tuple[FeedConfig, ...]
    database: Path | PostgresUrl  # a SQLite file, or a PostgreSQL server (monitor.config.database_url)
    watchlists: Path
    seeds: Path
    digests: Path
    models: Path
    fetch: FetchSettings = field(default_factory=FetchSettings)
    translation: TranslationSettings = field(default_factory=TranslationSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    smtp: SmtpConfig | None = None
    email: EmailSettings = field(default_factory=EmailSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    retention: float = 90 * 86400.0  # seconds items are kept
    rematch_window: float = 7 * 86400.0  # watchlist edits re-apply to items this recent
    default_interval: float = 1800.0
    timezone: str = "UTC"
    digests_url: str | None = None  # where the digests directory is served (Atom rel="self")

    @property
    def base_dir(self) -> Path:
        return self.path.parent


class _Checker(ProblemCollector):
    """Collects problems with positions while walking config.yaml (monitor.config.yamlcheck)."""

    def __init__(self, file: Path):
        super().__init__(relpath(file))

    def mapping(self, node: Any, key: Any, dotted: str, parent: Any) -> dict[Any, Any] | None:
        if node is None:
            return None
        if not isinstance(node, dict):
            self.add(parent, key, dotted, f"expected a mapping, got {type(node).__name__}")
            return None
        return node

    def unknown(self, node: Mapping[Any, Any], known: set[str], prefix: str) -> None:
        self.unknown_keys(node, known, prefix.removesuffix("."), listing="known keys")

    def get(self, node: dict[Any, Any], key: str, dotted: str, conv: Callable[[Any], Any], default: Any) -> Any:
        if key not in node or node[key] is None:
            return default
        try:
            return conv(node[key])
        except (ValueError, TypeError) as e:
            self.add(node, key, dotted, str(e))
            return default


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError(f"expected true or false, got {v!r}")


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"expected a whole number, got {v!r}")
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {v}")
        return v

    return conv


def _float(lo: float, hi: float) -> Callable[[Any], float]:
    def conv(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected a number, got {v!r}")
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {v}")
        return float(v)

    return conv


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty string, got {v!r}")
    return v.strip()


DEVICES = ("cpu", "cuda", "auto")


def _device(v: Any) -> str:
    s = _str(v).lower()
    if s not in DEVICES:
        raise ValueError(f"expected cpu, cuda or auto, got {v!r}")
    return s


def _lang(v: Any) -> str:
    s = _str(v).lower()
    if not is_language_code(s):
        raise ValueError(f"expected an ISO 639-1 language code such as 'ru', got {v!r}")
    from monitor.analysis.language_codes import code_problem

    bad = code_problem(s)
    if bad is not None:
        raise ValueError(f"{bad.message} (hint: {bad.hint})")
    return s


def _route_kinds(v: Any) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        raise ValueError(f"expected a list of {', '.join(ROUTE_KINDS)}, got {v!r}")
    out = []
    for item in items:
        kind = str(item).strip().lower()
        if kind not in ROUTE_KINDS:
            raise ValueError(f"unknown model kind {item!r}: expected {', '.join(ROUTE_KINDS)}")
        if kind not in out:
            out.append(kind)
    return tuple(out)


def _tz(v: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    s = _str(v)
    try:
        ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {s!r} (use an IANA name such as Europe/Moscow)") from None
    return s


def _duration(v: Any) -> float:
    return parse_duration(v)


def _feed_url(v: Any) -> str:
    s = _str(v)
    parts = urlsplit(s)
    if parts.scheme not in ("http", "https", "file"):
        raise ValueError(f"feed URLs must be http(s):// or file://, got {s!r}")
    if parts.scheme != "file" and not parts.hostname:
        raise ValueError(f"URL has no host: {s!r}")
    return s


def _http_url(v: Any) -> str:
    s = _str(v)
    parts = urlsplit(s)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s):// URL, got {s!r}")
    return s


def _path(base: Path) -> Callable[[Any], Path]:
    def conv(v: Any) -> Path:
        s = _str(v)
        expanded = os.path.expanduser(os.path.expandvars(s))
        if "$" in expanded:
            raise ValueError(f"environment variable in {s!r} is not set")
        p = Path(expanded)
        return p if p.is_absolute() else (base / p)

    return conv


def _database(base: Path) -> Callable[[Any], Path | PostgresUrl]:
    as_path = _path(base)

    def conv(v: Any) -> Path | PostgresUrl:
        if isinstance(v, str) and is_postgres_url(v.strip()):
            return parse_postgres_url(v).with_password()
        return as_path(v)

    return conv


_TOP_KEYS = {"feeds", "database", "watchlists", "seeds", "digests", "models", "fetch", "translation",
             "dedup", "smtp", "email", "webhook", "retention", "rematch_window", "defaults", "timezone", "digests_url"}
_EMAIL_KEYS = {"max_stories", "max_bytes"}
_WEBHOOK_KEYS = {"max_stories"}
_FEED_KEYS = {"url", "name", "interval", "language", "tags", "enabled", "fulltext"}
_FETCH_KEYS = {"timeout", "connect_timeout", "max_bytes", "max_redirects", "concurrency", "per_host", "min_host_delay",
               "user_agent", "backoff_base", "backoff_max", "allow_private_networks", "fulltext_max_bytes",
               "fulltext_timeout", "fulltext_memory", "fulltext_concurrency"}
_TRANSLATION_KEYS = {"enabled", "target", "pairs", "install_missing", "prefer", "languages",
                     "multilingual_model", "download_timeout", "device", "remote"}
_ROUTE_CODE = re.compile(r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?$")
_DEDUP_KEYS = {"threshold", "story_window"}
_SMTP_KEYS = {"host", "port", "security", "username", "from", "password"}
_DEFAULTS_KEYS = {"interval"}


def load_config(path: Path | str, *, check_dirs: bool = True) -> Config:
    """Parse and validate the config file; raise ConfigError listing every problem."""
    path = Path(path)
    chk = _Checker(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(relpath(path), None, None, "", "config file not found",
                                   "pass --config PATH or set MONITOR_CONFIG")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(relpath(path), None, None, "", f"cannot read: {e}")]) from None
    try:
        root = load_yaml(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError([Problem(relpath(path), mark.line + 1 if mark else None,
                                   mark.column + 1 if mark else None, "", f"invalid YAML: {e.problem or e}",
                                   "" if isinstance(e, AliasBudgetError) else "check indentation and quoting")]
                          ) from None
    except Exception as e:  # ruamel raises a few non-Marked errors (duplicate keys, ...)
        raise ConfigError([Problem(relpath(path), None, None, "", f"invalid YAML: {e}")]) from None
    if root is None:
        root = CommentedMap()
    if not isinstance(root, dict):
        raise ConfigError([Problem(relpath(path), 1, 1, "", "the config must be a mapping of keys",
                                   "start with 'feeds:'")])
    base = path.resolve().parent
    chk.unknown(root, _TOP_KEYS, "")
    P = _path(base)

    defaults = chk.mapping(root.get("defaults"), "defaults", "defaults", root) or CommentedMap()
    chk.unknown(defaults, _DEFAULTS_KEYS, "defaults.") if defaults else None
    default_interval = chk.get(defaults, "interval", "defaults.interval", _duration, 1800.0) if defaults else 1800.0

    feeds = _load_feeds(chk, root, default_interval)

    fetch = FetchSettings()
    fn = chk.mapping(root.get("fetch"), "fetch", "fetch", root)
    if fn:
        chk.unknown(fn, _FETCH_KEYS, "fetch.")
        fetch = FetchSettings(
            timeout=chk.get(fn, "timeout", "fetch.timeout", _duration, fetch.timeout),
            connect_timeout=chk.get(fn, "connect_timeout", "fetch.connect_timeout", _duration, fetch.connect_timeout),
            max_bytes=chk.get(fn, "max_bytes", "fetch.max_bytes", parse_size, fetch.max_bytes),
            max_redirects=chk.get(fn, "max_redirects", "fetch.max_redirects", _int(0, 30), fetch.max_redirects),
            concurrency=chk.get(fn, "concurrency", "fetch.concurrency", _int(1, 512), fetch.concurrency),
            per_host=chk.get(fn, "per_host", "fetch.per_host", _int(1, 64), fetch.per_host),
            min_host_delay=chk.get(fn, "min_host_delay", "fetch.min_host_delay", _duration, fetch.min_host_delay),
            user_agent=chk.get(fn, "user_agent", "fetch.user_agent", _str, fetch.user_agent),
            backoff_base=chk.get(fn, "backoff_base", "fetch.backoff_base", _duration, fetch.backoff_base),
            backoff_max=chk.get(fn, "backoff_max", "fetch.backoff_max", _duration, fetch.backoff_max),
            allow_private_networks=chk.get(fn, "allow_private_networks", "fetch.allow_private_networks", _bool,
                                           fetch.allow_private_networks),
            fulltext_max_bytes=chk.get(fn, "fulltext_max_bytes", "fetch.fulltext_max_bytes", parse_size,
                                       fetch.fulltext_max_bytes),
            fulltext_timeout=chk.get(fn, "fulltext_timeout", "fetch.fulltext_timeout", _duration,
                                     fetch.fulltext_timeout),
            fulltext_memory=chk.get(fn, "fulltext_memory", "fetch.fulltext_memory", parse_size,
                                    fetch.fulltext_memory),
            fulltext_concurrency=chk.get(fn, "fulltext_concurrency", "fetch.fulltext_concurrency", _int(1, 16),
                                         fetch.fulltext_concurrency),
        )

    translation = TranslationSettings()
    tn = chk.mapping(root.get("translation"), "translation", "translation", root)
    if tn:
        chk.unknown(tn, _TRANSLATION_KEYS, "translation.")
        pairs: list[tuple[str, str]] = []
        raw_pairs = tn.get("pairs") or []
        if not isinstance(raw_pairs, list):
            chk.add(tn, "pairs", "translation.pairs", "expected a list such as [ru-en, uk-en]")
        else:
            for i, p in enumerate(raw_pairs):
                m = re.match(r"^([a-z]{2,3})\s*(?:-|->|>)\s*([a-z]{2,3})$", str(p).strip().lower())
                if not m:
                    chk.add(raw_pairs, i, f"translation.pairs[{i}]", f"expected FROM-TO such as ru-en, got {p!r}")
                else:
                    try:
                        pairs.append((_lang(m.group(1)), _lang(m.group(2))))
                    except ValueError as e:
                        chk.add(raw_pairs, i, f"translation.pairs[{i}]", str(e))
        languages: list[tuple[str, tuple[str, ...]]] = []
        raw_langs = tn.get("languages")
        if raw_langs is not None and not isinstance(raw_langs, dict):
            chk.add(tn, "languages", "translation.languages",
                    "expected a mapping such as {kk: [multilingual], ru: [argos, multilingual]}")
        elif raw_langs:
            for code in raw_langs:
                if not _ROUTE_CODE.match(str(code)):
                    chk.add(raw_langs, code, f"translation.languages.{code}",
                            "expected a language code such as kk or uz-Cyrl", value=False)
                    continue
                kinds = chk.get(raw_langs, code, f"translation.languages.{code}", _route_kinds, None)
                if kinds is not None:
                    languages.append((str(code), kinds))
        translation = TranslationSettings(
            enabled=chk.get(tn, "enabled", "translation.enabled", _bool, True),
            target=chk.get(tn, "target", "translation.target", _lang, "en"),
            pairs=tuple(pairs),
            install_missing=chk.get(tn, "install_missing", "translation.install_missing", _bool, True),
            prefer=chk.get(tn, "prefer", "translation.prefer", _route_kinds, ROUTE_KINDS),
            languages=tuple(languages),
            multilingual_model=chk.get(tn, "multilingual_model", "translation.multilingual_model", _str, None),
            download_timeout=chk.get(tn, "download_timeout", "translation.download_timeout", _duration, 900.0),
            device=chk.get(tn, "device", "translation.device", _device, "cpu"),
            remote=chk.get(tn, "remote", "translation.remote", _bool, False),
        )
        if translation.remote and not is_postgres_url(str(root.get("database") or "")):
            chk.add(tn, "remote", "translation.remote",
                    "needs a shared PostgreSQL database (a translation-only worker serves the others through it)",
                    "set database: postgresql://..., or translation.remote: false")

    dedup = DedupSettings()
    dn = chk.mapping(root.get("dedup"), "dedup", "dedup", root)
    if dn:
        chk.unknown(dn, _DEDUP_KEYS, "dedup.")
        dedup = DedupSettings(
            threshold=chk.get(dn, "threshold", "dedup.threshold", _float(0.05, 1.0), dedup.threshold),
            story_window=chk.get(dn, "story_window", "dedup.story_window", _duration, dedup.story_window),
        )

    smtp = None
    sn = chk.mapping(root.get("smtp"), "smtp", "smtp", root)
    if sn:
        chk.unknown(sn, _SMTP_KEYS, "smtp.")
        if "password" in sn:
            chk.add(sn, "password", "smtp.password", "passwords do not belong in config.yaml",
                    "set MONITOR_SMTP_PASSWORD or use systemd's LoadCredential=smtp-password:...", value=False)
        if "host" not in sn:
            chk.add(root, "smtp", "smtp.host", "missing", "the SMTP server's host name")
        security = chk.get(sn, "security", "smtp.security", _str, "starttls")
        if security not in ("none", "starttls", "ssl"):
            chk.add(sn, "security", "smtp.security", f"must be none, starttls or ssl, got {security!r}")
        from_addr = chk.get(sn, "from", "smtp.from", _str, "news-monitor@localhost")
        if not is_email_address(email.utils.parseaddr(from_addr)[1] or "") or "\n" in from_addr or "\r" in from_addr:
            chk.add(sn, "from", "smtp.from", f"not an e-mail address: {from_addr!r}")
        smtp = SmtpConfig(
            host=chk.get(sn, "host", "smtp.host", _str, "localhost"),
            port=chk.get(sn, "port", "smtp.port", _int(1, 65535), 465 if security == "ssl" else 587),
            security=security,
            username=chk.get(sn, "username", "smtp.username", _str, None),
            from_addr=from_addr,
        )

    email_settings = EmailSettings()
    en = chk.mapping(root.get("email"), "email", "email", root)
    if en:
        chk.unknown(en, _EMAIL_KEYS, "email.")
        email_settings = EmailSettings(
            max_stories=chk.get(en, "max_stories", "email.max_stories", _int(1, 10_000), email_settings.max_stories),
            max_bytes=chk.get(en, "max_bytes", "email.max_bytes", parse_size, email_settings.max_bytes),
        )
        if email_settings.max_bytes < 20_000:
            chk.add(en, "max_bytes", "email.max_bytes", "too small for a digest mail", "use at least 20kB")

    webhook_settings = WebhookSettings()
    wn = chk.mapping(root.get("webhook"), "webhook", "webhook", root)
    if wn:
        chk.unknown(wn, _WEBHOOK_KEYS, "webhook.")
        webhook_settings = WebhookSettings(
            max_stories=chk.get(wn, "max_stories", "webhook.max_stories", _int(1, 1_000),
                                webhook_settings.max_stories),
        )

    cfg = Config(
        path=path.resolve(),
        feeds=tuple(feeds),
        database=chk.get(root, "database", "database", _database(base), base / "var" / "monitor.db"),
        watchlists=chk.get(root, "watchlists", "watchlists", P, base / "watchlists"),
        seeds=chk.get(root, "seeds", "seeds", P, base / "seeds"),
        digests=chk.get(root, "digests", "digests", P, base / "var" / "digests"),
        models=chk.get(root, "models", "models", P, base / "var" / "models"),
        fetch=fetch,
        translation=translation,
        dedup=dedup,
        smtp=smtp,
        email=email_settings,
        webhook=webhook_settings,
        retention=chk.get(root, "retention", "retention", _duration, 90 * 86400.0),
        rematch_window=chk.get(root, "rematch_window", "rematch_window", _duration, 7 * 86400.0),
        default_interval=default_interval,
        timezone=chk.get(root, "timezone", "timezone", _tz, "UTC"),
        digests_url=chk.get(root, "digests_url", "digests_url", _http_url, None),
    )
    if check_dirs:
        for key in ("watchlists",):  # a missing seeds directory is only a note (see monitor.ingest.seeds)
            d = getattr(cfg, key)
            if key in root and not d.is_dir():
                chk.add(root, key, key, f"directory not found: {d}", "create it or fix the path")
    if chk.problems:
        raise ConfigError(chk.problems)
    return cfg


def _load_feeds(chk: _Checker, root: dict[Any, Any], default_interval: float) -> list[FeedConfig]:
    raw = root.get("feeds")
    if raw is None:
        chk.add(root, "feeds", "feeds", "missing", "add a list of feeds, each with a url") if "feeds" not in root \
            else None
        return []
    if not isinstance(raw, list):
        chk.add(root, "feeds", "feeds", "expected a list of feeds (each '- url: ...')")
        return []
    feeds: list[FeedConfig] = []
    seen_urls: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for i, node in enumerate(raw):
        key = f"feeds[{i}]"
        if isinstance(node, str):  # shorthand: - https://example.org/rss
            node = CommentedMap(url=node)
        if not isinstance(node, dict):
            chk.add(raw, i, key, "expected a mapping with at least 'url'")
            continue
        chk.unknown(node, _FEED_KEYS, key + ".")
        if "url" not in node:
            chk.add(raw, i, key + ".url", "missing", "every feed needs a url")
            continue
        url = chk.get(node, "url", key + ".url", _feed_url, None)
        if url is None:
            continue
        name = chk.get(node, "name", key + ".name", _str, None) or _default_name(url)
        line = None
        try:
            line = raw.lc.item(i)[0] + 1  # type: ignore[attr-defined]  # a CommentedSeq from YAML
        except (AttributeError, KeyError, IndexError, TypeError):
            pass
        if url in seen_urls:
            chk.add(raw, i, key + ".url", f"duplicate of the feed on line {seen_urls[url]}")
            continue
        if name in seen_names:
            chk.add(node, "name", key + ".name", f"duplicate feed name (also on line {seen_names[name]})",
                    "feed names identify feeds in digests and `monitor feeds`")
            continue
        seen_urls[url] = line or 0
        seen_names[name] = line or 0
        tags = node.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            chk.add(node, "tags", key + ".tags", "expected a list of words")
            tags = []
        feeds.append(FeedConfig(
            url=url,
            name=name,
            interval=chk.get(node, "interval", key + ".interval", _duration, default_interval),
            language=chk.get(node, "language", key + ".language", _lang, None),
            tags=tuple(tags),
            enabled=chk.get(node, "enabled", key + ".enabled", _bool, True),
            fulltext=chk.get(node, "fulltext", key + ".fulltext", _bool, False),
            line=line,
        ))
    return feeds


def _default_name(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(parts.path).stem or url
    host = (parts.hostname or url).removeprefix("www.")
    return host + (parts.path.rstrip("/") if parts.path not in ("", "/") else "")


def feed_display_name(url: str, name: str, title: str | None) -> str:
    """The name shown for a feed: its configured ``name:``, else the title its own document gives,
    else the URL-derived default (``example.org/rss``)."""
    if title and name == _default_name(url):
        return " ".join(title.split())[:120] or name
    return name


def config_path_from(arg: str | None) -> Path:
    """--config, else $MONITOR_CONFIG, else ./config.yaml."""
    return Path(arg or os.environ.get("MONITOR_CONFIG") or "config.yaml")
