"""Synthetic but realistic feeds for benchmarks, and a fast feed server to serve them.

Text comes from a word-bigram chain per language trained on the project's hand-written
language evaluation set (``bench/data/lang_eval`` headlines and summaries), with surnames and
numbers sprinkled in as real stories have them,
so every item is new text made of real words in English, Russian, Ukrainian, Belarusian,
Kazakh, Kyrgyz, Uzbek (both scripts), Tajik, Armenian, Georgian, Azerbaijani and Turkish:
language detection, near-duplicate signatures and watchlist matching do their real work.
About 6 % of items carry a topical story from ``bench/data/watchlist_eval.jsonl`` (so
watchlists match, and the same story turns up on several sites); descriptions carry HTML
markup and entities.

Everything is deterministic for a given seed.

The server (``python -m bench.feedgen serve DIR``) runs in its own process: one asyncio
protocol, pre-rendered responses per path, ``ETag`` / ``If-None-Match`` -> 304, HTTP/1.1
keep-alive, and ``GET /__stats`` (JSON counts of statuses) for the benchmark to verify.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
ITEMS_PER_FEED = 50

# Share of feeds per language (a Russian-speaking region's news mix, English wire copy included).
LANGUAGE_WEIGHTS: dict[str, float] = {
    "en": 28, "ru": 32, "kk": 7, "ky": 6, "uz-Latn": 4, "uz-Cyrl": 3, "tg": 4, "uk": 4,
    "be": 2, "hy": 3, "ka": 2, "az": 3, "tr": 2,
}
TOPICAL_SHARE = 0.06  # items that carry a watchlist-relevant story
# Names and numbers make one story differ from the next, as in real news: surnames are built
# from these stems and endings, per script; Armenian and Georgian text keeps the chain's own names.
_NAME_PARTS = {
    "Latn": (["Nurl", "Bek", "Karim", "Ism", "Tash", "Sad", "Orm", "Usm", "Akhmed", "Jum", "Rakhim", "Yusup",
              "Alim", "Dos", "Erk", "Kurb", "Mam", "Naz", "Sult", "Zhol"], ["anov", "ova", "ayev", "iyeva", "bekov",
              "ullin", "ovich", "aliyev", "ev", "imov"]),
    "Cyrl": (["Нурл", "Бек", "Карим", "Исм", "Ташк", "Сад", "Орм", "Усм", "Ахмед", "Джум", "Рахим", "Юсуп",
              "Алим", "Дос", "Ерк", "Курб", "Мам", "Наз", "Султ", "Жол"], ["анов", "ова", "аев", "иева", "беков",
              "уллин", "ович", "алиев", "ев", "имов"]),
}
_SCRIPT = {"ru": "Cyrl", "uk": "Cyrl", "be": "Cyrl", "kk": "Cyrl", "ky": "Cyrl", "uz-Cyrl": "Cyrl", "tg": "Cyrl"}
_WORDS_TITLE = (6, 12)
_WORDS_SENTENCE = (9, 22)


@dataclass(frozen=True)
class Corpus:
    """Per-language bigram chains and topical stories."""

    chains: dict[str, dict[str, list[str]]]
    starts: dict[str, list[str]]
    topical: dict[str, list[tuple[str, str]]]  # language -> [(title, summary)]


def _iso(lang: str) -> str:
    return lang.split("-")[0]


def load_corpus() -> Corpus:
    """Build the chains from the evaluation texts shipped in bench/data."""
    texts: dict[str, list[str]] = {}
    for kind in ("headlines", "summaries"):
        for path in sorted((DATA / "lang_eval" / kind).glob("*.txt")):
            lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
            texts.setdefault(path.stem, []).extend(lines)
    topical: dict[str, list[tuple[str, str]]] = {}
    wl = DATA / "watchlist_eval.jsonl"
    if wl.exists():
        for line in wl.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                topical.setdefault(row["language"], []).append((row["title"], row.get("summary") or ""))
    chains: dict[str, dict[str, list[str]]] = {}
    starts: dict[str, list[str]] = {}
    for lang, lines in texts.items():
        chain: dict[str, list[str]] = {}
        st: list[str] = []
        for text in lines:
            words = text.split()
            if len(words) < 2:
                continue
            st.append(words[0])
            for a, b in zip(words, words[1:]):
                chain.setdefault(a, []).append(b)
        chains[lang], starts[lang] = chain, st
    # Uzbek topical stories are Latin; the Cyrillic feeds get none (their chain still has names)
    return Corpus(chains, starts, topical)


def _sentence(rng: random.Random, corpus: Corpus, lang: str, lo: int, hi: int, *, title: bool = False) -> str:
    chain, starts = corpus.chains[lang], corpus.starts[lang]
    target = rng.randint(lo, hi)
    words = [rng.choice(starts)]
    while len(words) < target:
        nxt = chain.get(words[-1])
        if not nxt or (words[-1].endswith(".") and not title):
            nxt = starts  # restart mid-sentence: real text is not a closed chain
        words.append(rng.choice(nxt))
    if not title:
        script = _SCRIPT.get(lang, "Latn" if lang in ("en", "uz-Latn", "az", "tr") else None)
        if script and rng.random() < 0.7:
            stems, ends = _NAME_PARTS[script]
            words.insert(rng.randrange(1, len(words)), rng.choice(stems) + rng.choice(ends))
        if rng.random() < 0.7:
            number = rng.choice((str(rng.randint(2, 99)), str(rng.randint(100, 9999)), f"{rng.randint(1, 99)},{rng.randint(1, 9)}"))
            words.insert(rng.randrange(1, len(words)), number)
    text = " ".join(w.rstrip(".") if title else w for w in words).rstrip(",;:")
    if title:
        return text.rstrip(".")
    return text if text.endswith((".", "!", "?")) else text + "."


def make_item(rng: random.Random, corpus: Corpus, lang: str) -> tuple[str, str]:
    """One (title, summary) pair in ``lang`` (``uz-Latn`` style codes allowed)."""
    iso = _iso(lang)
    stories = corpus.topical.get(iso) if lang != "uz-Cyrl" else None
    if stories and rng.random() < TOPICAL_SHARE:
        title, summary = rng.choice(stories)
        extra = _sentence(rng, corpus, lang, *_WORDS_SENTENCE)
        return title, f"{summary} {extra}".strip()
    title = _sentence(rng, corpus, lang, *_WORDS_TITLE, title=True)
    n = rng.choice((2, 2, 3))
    summary = " ".join(_sentence(rng, corpus, lang, *_WORDS_SENTENCE) for _ in range(n))
    return title, summary


def _html_summary(rng: random.Random, summary: str, link: str) -> str:
    sentences = summary.split(". ")
    if len(sentences) > 1 and rng.random() < 0.5:
        cut = len(sentences) // 2
        body = f"<p>{escape('. '.join(sentences[:cut]))}.</p>\n<p>{escape('. '.join(sentences[cut:]))}</p>"
    else:
        body = f"<p>{escape(summary)}</p>"
    if rng.random() < 0.3:
        body = f'<img src="{link}/cover.jpg" alt="" width="640" height="360"/>' + body
    if rng.random() < 0.3:
        body += f'\n<p><a href="{link}" rel="nofollow">&#8594;</a></p>'
    return body


def render_feed(index: int, corpus: Corpus, *, items: int = ITEMS_PER_FEED, seed: int = 2024,
                now: datetime | None = None) -> bytes:
    """Feed number ``index``: RSS 2.0 (about 4 in 5) or Atom, one language per feed."""
    rng = random.Random(f"{seed}:{index}")
    langs = list(LANGUAGE_WEIGHTS)
    lang = rng.choices(langs, weights=[LANGUAGE_WEIGHTS[x] for x in langs])[0]
    iso = _iso(lang)
    host = f"news{index:04d}.example.com"
    declare = rng.random() < 0.6  # many feeds declare their language, many do not
    now = now or datetime(2024, 5, 9, 12, 0, tzinfo=timezone.utc)
    atom = rng.random() < 0.2
    entries: list[str] = []
    t = now
    for n in range(items):
        title, summary = make_item(rng, corpus, lang)
        t -= timedelta(minutes=rng.randint(3, 90))
        slug = hashlib.blake2s(f"{index}-{n}-{title}".encode(), digest_size=6).hexdigest()
        link = f"https://{host}/{t:%Y/%m/%d}/{slug}"
        author = rng.choice(("Newsroom", "Staff", "A. Karimova", "B. Aliyev", "D. Petrov", "Reuters", "AP"))
        html_summary = _html_summary(rng, summary, link)
        if atom:
            entries.append(
                f"<entry><title>{escape(title)}</title><link rel=\"alternate\" href=\"{link}\"/>"
                f"<id>tag:{host},2024:{slug}</id><updated>{t.isoformat()}</updated>"
                f"<author><name>{author}</name></author>"
                f"<summary type=\"html\">{escape(html_summary)}</summary></entry>")
        else:
            entries.append(
                f"<item><title>{escape(title)}</title><link>{link}</link>"
                f"<guid isPermaLink=\"false\">{host}/{slug}</guid><pubDate>{format_datetime(t)}</pubDate>"
                f"<dc:creator>{author}</dc:creator><category>news</category>"
                f"<description><![CDATA[{html_summary}]]></description></item>")
    title = f"News {index:04d} ({lang})"
    if atom:
        lang_attr = f' xml:lang="{iso}"' if declare else ""
        doc = (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{lang_attr}>'
               f"<title>{title}</title><link href=\"https://{host}/\"/><id>https://{host}/</id>"
               f"<updated>{now.isoformat()}</updated>" + "\n".join(entries) + "</feed>\n")
    else:
        lang_el = f"<language>{iso}</language>" if declare else ""
        doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
               'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
               f"<title>{title}</title><link>https://{host}/</link><description>Synthetic news</description>"
               f"{lang_el}<lastBuildDate>{format_datetime(now)}</lastBuildDate>\n"
               + "\n".join(entries) + "</channel></rss>\n")
    return doc.encode("utf-8")


def write_feeds(directory: Path, count: int, *, items: int = ITEMS_PER_FEED, seed: int = 2024) -> list[Path]:
    """Render ``count`` feeds to ``directory/NNNN.xml``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus()
    paths = []
    for i in range(count):
        p = directory / f"{i:04d}.xml"
        p.write_bytes(render_feed(i, corpus, items=items, seed=seed))
        paths.append(p)
    return paths


# ---- the server ---------------------------------------------------------------------------------

def _response(status: str, headers: dict[str, str], body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


class _Routes:
    def __init__(self, directory: Path) -> None:
        self.ok: dict[bytes, bytes] = {}
        self.not_modified: dict[bytes, bytes] = {}
        self.etags: dict[bytes, bytes] = {}
        self.stats: Counter[str] = Counter()
        for p in sorted(directory.glob("*.xml")):
            body = p.read_bytes()
            etag = '"' + hashlib.blake2s(body, digest_size=8).hexdigest() + '"'
            path = f"/feeds/{p.name}".encode()
            common = {"ETag": etag, "Content-Type": "application/rss+xml; charset=utf-8",
                      "Last-Modified": "Thu, 09 May 2024 12:00:00 GMT"}
            self.ok[path] = _response("200 OK", common, body)
            self.not_modified[path] = _response("304 Not Modified", {"ETag": etag}, b"")
            self.etags[path] = etag.encode()


class _Proto(asyncio.Protocol):
    def __init__(self, routes: _Routes) -> None:
        self.routes = routes
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        assert self.transport is not None
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            path = parts[1] if len(parts) > 1 else b"/"
            inm = None
            for line in lines[1:]:
                if line[:14].lower() == b"if-none-match:":
                    inm = line[14:].strip()
            r = self.routes
            if path in r.ok:
                if inm is not None and inm == r.etags[path]:
                    r.stats["304"] += 1
                    self.transport.write(r.not_modified[path])
                else:
                    r.stats["200"] += 1
                    self.transport.write(r.ok[path])
            elif path == b"/__stats":
                self.transport.write(_response("200 OK", {"Content-Type": "application/json"},
                                               json.dumps(dict(r.stats)).encode()))
            elif path == b"/__reset":
                r.stats.clear()
                self.transport.write(_response("200 OK", {"Content-Type": "text/plain"}, b"ok"))
            else:
                r.stats["404"] += 1
                self.transport.write(_response("404 Not Found", {"Content-Type": "text/plain"}, b"not found"))


async def _serve(directory: Path, port: int) -> None:
    routes = _Routes(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Proto(routes), "127.0.0.1", port, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


class ServerProcess:
    """The feed server in its own process (no shared GIL). Use as a context manager."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.feedgen", "serve", str(self.directory)],
                                     cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.port = int(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/feeds/{name}"

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far."""
        assert self.proc is not None
        return proc_cpu_seconds(self.proc.pid)

    def stats(self, reset: bool = False) -> dict[str, int]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__stats", timeout=10) as r:
            out: dict[str, int] = json.loads(r.read())
        if reset:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__reset", timeout=10).read()
        return out


def compile_bytecode() -> bool:
    """Byte-compile the ``monitor`` package, as ``pip install`` does for an installed package
    (reader, the peer, comes with its bytecode). Without it a process started with
    PYTHONDONTWRITEBYTECODE (or a read-only checkout) compiles every module from source at
    each start, a cost no installed service pays. True when every module compiled."""
    import compileall

    return bool(compileall.compile_dir(str(ROOT / "monitor"), quiet=1))


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: wall time, its own peak RSS and CPU, output."""

    wall_s: float
    peak_rss_mb: float  # the largest single process (wait4)
    cpu_s: float
    returncode: int
    stdout: str
    stderr: str
    peak_tree_rss_mb: float = 0.0  # the child and its descendants (e.g. a process pool) together, sampled
    tree_cpu_s: float = 0.0  # user + system CPU of the child and every descendant (pool workers included)


def _become_subreaper() -> bool:
    """Orphaned descendants of our children (a forkserver and its pool workers outlive the
    child by a moment) are re-parented to us, so we reap them and RUSAGE_CHILDREN counts them."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _reap(pids: set[int], timeout: float = 15.0) -> None:
    """Wait for the (re-parented) descendants in ``pids``; SIGKILL what is left after ``timeout``."""
    end = time.monotonic() + timeout
    left = set(pids)
    while left:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                left.discard(pid)  # not ours (reaped by its own parent)
                continue
            if done:
                left.discard(pid)
        if left and time.monotonic() > end:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            end = time.monotonic() + 5.0
        if left:
            time.sleep(0.05)


def descendants(root: int) -> set[int]:
    """Pids of every live descendant of ``root``, from /proc."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parent[int(d)] = int(stat[1])
    out: set[int] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        kids = [c for c, p in parent.items() if p == pid and c not in out]
        out.update(kids)
        todo.extend(kids)
    return out


def tree_rss_mb(root: int) -> float:
    """Summed VmRSS of ``root`` and all its descendants, from /proc."""
    parent: dict[int, int] = {}
    rss: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            text = Path(f"/proc/{d}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        parent[int(d)] = int(fields.get("PPid", "0").strip() or 0)
        rss[int(d)] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024 if "VmRSS" in fields else 0.0
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0.0)
        todo.extend(c for c, p in parent.items() if p == pid)
    return total


def write_config(path: Path, feed_urls: list[str], *, state: Path, translation: bool = False,
                 concurrency: int = 16, per_host: int = 16) -> Path:
    """A config.yaml for benchmarks: the given feeds, the shipped watchlists and seeds, state under ``state``.

    All feeds live on one 127.0.0.1 server, so ``per_host`` is raised to ``concurrency``:
    the per-host politeness gate would otherwise serialise what, in production, are
    1,000 different hosts.
    """
    lines = [
        f"database: {json.dumps(str(state / 'monitor.db'))}",
        f"watchlists: {json.dumps(str(ROOT / 'watchlists'))}",
        f"seeds: {json.dumps(str(ROOT / 'seeds'))}",
        f"digests: {json.dumps(str(state / 'digests'))}",
        f"models: {json.dumps(str(state / 'models'))}",
        "timezone: UTC",
        "defaults:",
        "  interval: 30m",
        "fetch:",
        f"  concurrency: {concurrency}",
        f"  per_host: {per_host}",
        "translation:",
        f"  enabled: {'true' if translation else 'false'}",
        "  install_missing: false",
        "feeds:",
    ]
    for i, url in enumerate(feed_urls):
        lines.append(f"  - {{name: {json.dumps(f'Feed {i:04d}')}, url: {json.dumps(url)}}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_child(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 600.0,
              grace: float = 10.0) -> ChildRun:
    """Run a command to completion; peak RSS and CPU come from wait4() for that child alone.

    After ``timeout`` seconds the child gets SIGTERM, ``grace`` seconds later SIGKILL.
    """
    import tempfile
    import threading

    subreaper = _become_subreaper()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        cpu0 = _children_cpu()
        before = descendants(os.getpid()) if subreaper else set()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, text=True, env=env)
        term = threading.Timer(timeout, proc.send_signal, (signal.SIGTERM,))
        kill = threading.Timer(timeout + grace, proc.kill)
        term.start()
        kill.start()
        peak = [0.0]
        done = threading.Event()

        seen: set[int] = set()

        def sample() -> None:
            while not done.wait(0.25):
                try:
                    peak[0] = max(peak[0], tree_rss_mb(proc.pid))
                    seen.update(descendants(proc.pid))
                except (OSError, ValueError):
                    pass

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            term.cancel()
            kill.cancel()
        sampler.join()
        wall = time.perf_counter() - t0
        if subreaper:
            _reap((seen | descendants(os.getpid())) - before - {proc.pid})
        tree_cpu = _children_cpu() - cpu0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, proc.returncode,
                        out.read(), err.read(), max(peak[0], usage.ru_maxrss / 1024),
                        max(tree_cpu, usage.ru_utime + usage.ru_stime))


def main() -> None:
    ap = argparse.ArgumentParser(description="generate synthetic feeds or serve a directory of them")
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write N feeds to DIR")
    g.add_argument("dir", type=Path)
    g.add_argument("-n", type=int, default=10)
    g.add_argument("--items", type=int, default=ITEMS_PER_FEED)
    s = sub.add_parser("serve", help="serve DIR/*.xml at /feeds/NAME on 127.0.0.1 (port printed first)")
    s.add_argument("dir", type=Path)
    s.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "generate":
        t0 = time.perf_counter()
        paths = write_feeds(args.dir, args.n, items=args.items)
        size = sum(p.stat().st_size for p in paths)
        print(json.dumps({"feeds": len(paths), "bytes": size, "seconds": round(time.perf_counter() - t0, 2)}))
    else:
        asyncio.run(_serve(args.dir, args.port))


if __name__ == "__main__":
    main()
