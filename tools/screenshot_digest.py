"""Render a sample digest as HTML and screenshot it in headless Chromium.

    python tools/screenshot_digest.py                      # -> docs/digest-email.png
    python tools/screenshot_digest.py --html my.html --out shot.png
    python tools/screenshot_digest.py --markdown           # print the sample as Markdown

Needs Debian's ``chromium`` package (``apt-get install -y chromium``).  Chromium
runs with networking features off; the digest HTML has no remote assets anyway.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.delivery.digest import Digest, DigestStory, FeedNote, StorySource, SuppressedEntry  # noqa: E402
from monitor.delivery.render import render_html, render_markdown  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "digest-email.png"
UTC = timezone.utc
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--hide-scrollbars",
                  "--disable-extensions", "--disable-sync", "--mute-audio", "--force-device-scale-factor=1"]


def sample_digest() -> Digest:
    """A small bilingual digest (Russian + English) used for the README screenshot and examples."""
    return Digest(
        watchlist="victory-day",
        title="Victory Day coverage",
        timezone="Europe/Moscow",
        period_start=datetime(2024, 5, 8, 21, 0, tzinfo=UTC),
        period_end=datetime(2024, 5, 9, 21, 0, tzinfo=UTC),
        generated_at=datetime(2024, 5, 9, 21, 2, tzinfo=UTC),
        stories=[
            DigestStory(
                anchor="item-42", item_id=42, title="Victory Day parade held on Red Square",
                original_title="На Красной площади прошёл парад Победы", language="ru",
                translation_status="translated",
                summary="Troops and military hardware passed through Red Square in Moscow on Thursday "
                        "to mark the 79th anniversary of the victory in the Second World War.",
                link="https://tass.example/society/42", feed="TASS",
                published=datetime(2024, 5, 9, 7, 12, tzinfo=UTC), score=0.92,
                why=['"Victory Day" in title', '"Red Square" in summary'],
                also_reported_by=[
                    StorySource("RIA Novosti", "Парад Победы на Красной площади", "https://ria.example/7",
                                "ru", datetime(2024, 5, 9, 7, 30, tzinfo=UTC)),
                    StorySource("BBC News", "Russia marks Victory Day with parade", "https://bbc.example/1",
                                "en", datetime(2024, 5, 9, 8, 5, tzinfo=UTC)),
                ],
            ),
            DigestStory(
                anchor="item-57", item_id=57, title="Immortal Regiment marches held online again",
                original_title="«Бессмертный полк» снова пройдёт в онлайн-формате", language="ru",
                translation_status="cached",
                summary="Organisers said the march would take place in an online format for safety reasons; "
                        "participants can upload photographs of relatives to the project website.",
                link="https://rg.example/2024/05/09/polk.html", feed="Rossiyskaya Gazeta",
                published=datetime(2024, 5, 9, 10, 45, tzinfo=UTC), score=0.74,
                why=['"Immortal Regiment" in title'],
            ),
            DigestStory(
                anchor="item-61", item_id=61, title="Veterans honoured at Volgograd ceremony",
                original_title=None, language="en", translation_status="not_needed",
                summary="Wreaths were laid at Mamayev Kurgan as veterans and officials gathered in Volgograd.",
                link="https://news.example/world/61", feed="Example Wire",
                published=datetime(2024, 5, 9, 12, 0, tzinfo=UTC), score=0.58,
                why=['"veterans" in title', 'watchlist keyword "Victory Day" in summary'],
            ),
        ],
        suppressed=[
            SuppressedEntry("Parade on Red Square marks Victory Day", "RT", "https://rt.example/5",
                            "duplicate of seed 000_71e0985426784b8e.txt (similarity 0.82)"),
            SuppressedEntry("Парад Победы: главное", "Lenta.ru", "https://lenta.example/9",
                            "same story already sent (item 42)"),
        ],
        feed_notes=[FeedNote("Interfax", "failing for 3 polls: HTTP 503"),
                    FeedNote("Kommersant", "quiet: no item for 5 days (usually 12 a day)")],
    )


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(html_path: Path, out: Path, width: int = 720, height: int = 960, timeout: float = 60.0) -> Path:
    """Screenshot ``html_path`` with headless Chromium into ``out`` (PNG)."""
    browser = find_chromium()
    if browser is None:
        raise RuntimeError("chromium not found: apt-get install -y chromium")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nm-chromium-") as profile:
        cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={out.resolve()}", html_path.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, help="screenshot this HTML file instead of the sample digest")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG to write (default {DEFAULT_OUT})")
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--height", type=int, default=960)
    parser.add_argument("--markdown", action="store_true", help="print the sample digest as Markdown and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(render_markdown(sample_digest()))
        return 0
    with tempfile.TemporaryDirectory(prefix="nm-digest-") as tmp:
        html_path = args.html
        if html_path is None:
            html_path = Path(tmp) / "digest.html"
            html_path.write_text(render_html(sample_digest()), encoding="utf-8")
        out = screenshot(html_path, args.out, args.width, args.height)
    w, h = png_size(out)
    print(f"{out} {w}x{h} {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
