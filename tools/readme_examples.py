"""README examples generated from real runs: `python tools/readme_examples.py [--write]`.

A README code block preceded by ``<!-- generated: NAME -->`` is the real output of the example
NAME below, run on this checkout (the demo's sample feeds, unresolvable hosts; nothing from the
internet). Without ``--write`` the script prints every example; with it, it rewrites those blocks
in README.md. tests/test_readme.py runs the same examples and compares them with the README,
ignoring what changes from run to run (times, temporary paths, "next try in N min").
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARK = re.compile(r"<!-- generated: (?P<name>[a-z0-9-]+) -->\n(?P<fence>`{3,4})(?P<lang>[a-z]*)\n"
                  r"(?:(?P<body>.*?)\n)??(?P=fence)\n", re.S)


def _monitor(*args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)
    return proc.stdout + proc.stderr


def _demo_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="readme-demo-"))
    subprocess.run([sys.executable, "-m", "monitor", "demo", "--dir", str(d)], capture_output=True, text=True,
                   cwd=ROOT, timeout=300, check=True)
    return d


_DEMO: list[Path] = []


def demo() -> Path:
    if not _DEMO:
        _DEMO.append(_demo_dir())
    return _DEMO[0]


def markdown_digest() -> str:
    """The victory-day-parade digest the demo writes."""
    [md] = sorted((demo() / "digests" / "victory-day-parade").glob("*.md"))
    return md.read_text(encoding="utf-8").rstrip("\n")


def run_once_offline() -> str:
    """`monitor run --once` with three of the shipped feeds, their hosts made unresolvable (.invalid)."""
    d = Path(tempfile.mkdtemp(prefix="readme-offline-"))
    (d / "watchlists").mkdir()
    (d / "config.yaml").write_text(
        "feeds:\n"
        "  - {name: The Moscow Times, url: 'https://www.themoscowtimes.com.invalid/rss/news'}\n"
        "  - {name: Eurasianet, url: 'https://eurasianet.org.invalid/rss.xml'}\n"
        "  - {name: 24.kg (Kyrgyzstan), url: 'https://24.kg.invalid/rss/'}\n"
        "watchlists: watchlists\n", encoding="utf-8")
    return "$ monitor run --once\n" + _monitor("run", "--once", cwd=d).rstrip("\n")


def items_table() -> str:
    """`monitor items --watchlist victory-day-parade` after the demo."""
    return "$ monitor items --watchlist victory-day-parade\n" + _monitor(
        "--config", str(demo() / "config.yaml"), "items", "--watchlist", "victory-day-parade", cwd=demo()).rstrip("\n")


def status_after_demo() -> str:
    return "$ monitor status\n" + _monitor("--config", str(demo() / "config.yaml"), "status", cwd=demo()).rstrip("\n")


def models_list() -> str:
    """`monitor models list` with the two bundled test models installed (ru->en Argos, the tiny multilingual)."""
    d = Path(tempfile.mkdtemp(prefix="readme-models-"))
    (d / "watchlists").mkdir()
    (d / "config.yaml").write_text("feeds: []\nwatchlists: watchlists\nmodels: models\n"
                                   "translation: {pairs: [ru-en]}\n", encoding="utf-8")
    data = ROOT / "monitor" / "analysis" / "data" / "models"
    cfg = str(d / "config.yaml")
    _monitor("--config", cfg, "models", "install", "--file", str(data / "translate-ru_en-1.0.argosmodel"), cwd=d)
    _monitor("--config", cfg, "models", "install", "--multilingual", str(data / "multilingual-tiny"), cwd=d)
    return "$ monitor models list\n" + _monitor("--config", cfg, "models", "list", cwd=d).rstrip("\n")


EXAMPLES: dict[str, Callable[[], str]] = {
    "markdown-digest": markdown_digest,
    "run-once-offline": run_once_offline,
    "items-table": items_table,
    "status-after-demo": status_after_demo,
    "models-list": models_list,
}

_VOLATILE = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d[:-]\d\d[:-]\d\dZ?"), "<time>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?: [A-Z]{2,5}|[ ][+-]\d\d)?"), "<time>"),
    (re.compile(r"/tmp/[^\s/]+"), "<dir>"),
    (re.compile(r"in \d+(?:\.\d)? (?:s|min|h)\b"), "in <n>"),
    (re.compile(r"\b\d+[smhd] ago\b"), "<n> ago"),
    (re.compile(r"pid \d+"), "pid <n>"),
    (re.compile(r"\[\d+/(\d+)\]"), r"[<n>/\1]"),  # progress lines come in the order polls finish
    (re.compile(r"^\d+ ", re.M), "<id> "),  # item ids depend on which feed answered first
    (re.compile(r"(dup of |item-|#)\d+"), r"\1<id>"),
    (re.compile(r"[ \t]+$", re.M), ""),
    (re.compile(r"-{2,}"), "--"),
    (re.compile(r" {2,}"), " "),
]


def normalise(text: str) -> str:
    """What stays the same from run to run."""
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text.strip()


def readme_blocks(text: str | None = None) -> dict[str, str]:
    return {m.group("name"): m.group("body") or "" for m in MARK.finditer(text or README.read_text(encoding="utf-8"))}


def write() -> list[str]:
    text = README.read_text(encoding="utf-8")
    done = []

    def repl(m: re.Match[str]) -> str:
        done.append(m.group("name"))
        body = EXAMPLES[m.group("name")]()
        return f"<!-- generated: {m.group('name')} -->\n{m.group('fence')}{m.group('lang')}\n{body}\n{m.group('fence')}\n"

    README.write_text(MARK.sub(repl, text), encoding="utf-8")
    return done


if __name__ == "__main__":
    if "--write" in sys.argv:
        print("rewrote:", ", ".join(write()))
    else:
        for name, fn in EXAMPLES.items():
            print(f"=== {name}\n{fn()}\n")
