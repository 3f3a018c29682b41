"""The README documents every command and config key, and its set-up commands are the ones CI runs."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from monitor import config as config_module
from monitor.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(parser: argparse.ArgumentParser, prefix: str = "monitor") -> list[str]:
    out = []
    for action in parser._actions:  # argparse keeps subcommands here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(f"{prefix} {name}")
                out.extend(_commands(sub, f"{prefix} {name}"))
    return out


def test_every_command_is_documented() -> None:
    flat = README.replace("`", " ")
    missing = []
    for cmd in _commands(build_parser()):
        words = cmd.split()[1:]
        if not re.search(r"monitor\s+" + r"\s+(?:\S+\s+)*?".join(map(re.escape, words)), flat) and \
                " ".join(words) not in flat:
            missing.append(cmd)
    assert not missing, f"not in README.md: {missing}"


def test_every_config_key_is_documented() -> None:
    keys = set(config_module._TOP_KEYS)
    keys |= {f"fetch.{k}" for k in config_module._FETCH_KEYS}
    keys |= {f"translation.{k}" for k in config_module._TRANSLATION_KEYS}
    keys |= {f"dedup.{k}" for k in config_module._DEDUP_KEYS}
    keys |= {f"smtp.{k}" for k in config_module._SMTP_KEYS - {"password"}}
    keys |= {f"defaults.{k}" for k in config_module._DEFAULTS_KEYS}
    missing = sorted(k for k in keys if f"`{k}`" not in README and k.split(".")[-1] not in README)
    assert not missing, f"config keys not in README.md: {missing}"


def test_first_screen_has_the_two_setup_commands_ci_runs() -> None:
    first_screen = "\n".join(README.splitlines()[:40])
    assert "make run" in first_screen and "make test" in first_screen
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run: install\n\t\$\(VENV\)/bin/monitor run --once", makefile, re.M)
    assert "torch==2.13.0" in makefile


def test_items_json_fields_are_documented() -> None:
    for field in ("id", "feed", "title", "link", "published", "language", "language_confidence", "matches",
                  "duplicate_of", "title_translated", "summary_translated", "translated_to", "translation_status"):
        assert f"{field}" in README


# ---- the README's examples are real ------------------------------------------------------------------

import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import readme_examples  # noqa: E402

_YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
_WATCHLIST_KEYS = {"name", "title", "description", "enabled", "query", "aliases", "fields", "threshold", "filters",
                   "digest"}


def _yaml_blocks() -> list[tuple[int, str]]:
    out = []
    for m in _YAML_BLOCK.finditer(README):
        line = README.count("\n", 0, m.start()) + 1
        out.append((line, m.group(1)))
    return out


def _shipped_aliases() -> dict:
    aliases: dict = {}
    for p in sorted((ROOT / "watchlists").glob("*.yaml")):
        aliases.update(yaml.safe_load(p.read_text(encoding="utf-8")).get("aliases") or {})
    return aliases


def _check(tmp: Path, config: dict, watchlist: dict | str | None) -> subprocess.CompletedProcess:
    (tmp / "watchlists").mkdir(exist_ok=True)
    (tmp / "seeds").mkdir(exist_ok=True)
    for old in (tmp / "watchlists").glob("*.yaml"):
        old.unlink()
    if watchlist is not None:
        text = watchlist if isinstance(watchlist, str) else yaml.safe_dump(watchlist, allow_unicode=True)
        (tmp / "watchlists" / "example.yaml").write_text(text, encoding="utf-8")
    doc = {"feeds": [], "watchlists": "watchlists", "seeds": "seeds", "database": "state/monitor.db",
           "smtp": {"host": "127.0.0.1", "from": "monitor@example.org"}}
    doc.update(config)
    (tmp / "config.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    env = {**__import__("os").environ, "STATE_DIRECTORY": str(tmp / "state")}
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(tmp / "config.yaml"), "check"],
                          capture_output=True, text=True, cwd=tmp, env=env, timeout=120)


def _as_check_input(block: str) -> tuple[dict, dict | str | None] | None:
    """(config fragment, watchlist) to run a README YAML block through `monitor check`; None: nothing to check."""
    doc = yaml.safe_load(textwrap_dedent(block))
    if doc is None:
        return None  # only comments (the yaml-language-server line)
    if isinstance(doc, list):  # query nodes: a term, near or regex written as list items
        return {}, {"name": "example", "aliases": _shipped_aliases(), "query": {"any": doc}}
    keys = set(doc)
    if {"name", "query"} <= keys:
        return {}, block
    if keys <= _WATCHLIST_KEYS:
        wl = {"name": "example", "aliases": {**_shipped_aliases(), **(doc.get("aliases") or {})},
              "query": {"any": [{"alias": "putin"}]}}
        wl.update({k: v for k, v in doc.items() if k != "aliases"})
        return {}, wl
    if keys <= set(config_module._TOP_KEYS):
        return doc, None
    raise AssertionError(f"README YAML block of unknown kind: keys {sorted(keys)}")


def textwrap_dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text)


def test_every_yaml_block_of_the_readme_passes_check(tmp_path: Path) -> None:
    failures = []
    for line, block in _yaml_blocks():
        if "broken-example" in block:
            continue  # checked against its printed output below
        got = _as_check_input(block)
        if got is None:
            continue
        proc = _check(tmp_path, *got)
        if proc.returncode == 0:
            continue
        failures.append(f"README.md:{line}:\n{block}\n{proc.stdout}{proc.stderr}")
    assert not failures, "\n".join(failures)


def test_broken_watchlist_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    block = next(b for _, b in _yaml_blocks() if "broken-example" in b)
    after = README[README.index(block) + len(block) + 3:]
    shown = re.search(r"```\n(.*?)```", after, re.S).group(1).strip().splitlines()
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "broken.yaml").write_text(block, encoding="utf-8")
    (tmp_path / "seeds").mkdir()
    (tmp_path / "config.yaml").write_text("feeds: []\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "monitor", "check"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    real = [p for p in proc.stdout.splitlines() if p.startswith("watchlists/broken.yaml")]
    assert real == shown


def _comparable(text: str) -> list[str]:
    return sorted(readme_examples.normalise(text).splitlines())  # polls finish in any order


@pytest.mark.parametrize("name", sorted(readme_examples.EXAMPLES))
def test_generated_readme_examples_match_a_real_run(name: str) -> None:
    blocks = readme_examples.readme_blocks(README)
    assert name in blocks, f"README.md has no <!-- generated: {name} --> block"
    real = readme_examples.EXAMPLES[name]()
    assert _comparable(blocks[name]) == _comparable(real), (
        f"README block {name} differs from a real run; regenerate with `python tools/readme_examples.py --write`"
        f"\n--- real:\n{real}")


def test_readme_list_id_and_subject_are_what_a_mail_carries() -> None:
    from datetime import datetime, timezone

    from monitor.analysis.watchlists import load_watchlists
    from monitor.delivery.channels import build_email
    from monitor.delivery.digest import Digest

    wl = next(w for w in load_watchlists(ROOT / "watchlists")[0] if w.name == "victory-day-parade")
    now = datetime.now(timezone.utc)
    d = Digest(wl.name, wl.title, wl.digest.timezone, now, now, now)
    msg = build_email(d, from_addr="monitor@example.org", to=["desk@example.org"], list_id=f"{wl.name}.news-monitor")
    assert f"`List-Id` (`{msg['List-Id']}`" in README.replace("\n", " ").replace("handy for", "handy\nfor").replace(
        "\n", "") or str(msg["List-Id"]).replace(" ", "") in README.replace("\n", "").replace(" ", "")


def test_watchlist_test_example_is_what_the_demo_state_gives() -> None:
    """The Watchlists section's `monitor watchlist test` block (up to its "...") is a real run on the demo."""
    m = re.search(r"```console\n\$ monitor watchlist test victory-day-parade --since 1d\n(.*?)\n\.\.\.\n```", README,
                  re.S)
    assert m, "README.md lost its `monitor watchlist test` example"
    demo = readme_examples.demo()
    real = subprocess.run([sys.executable, "-m", "monitor", "--config", str(demo / "config.yaml"), "watchlist", "test",
                           "victory-day-parade", "--since", "1d"], capture_output=True, text=True, cwd=demo,
                          timeout=120).stdout
    # the README shows the head line and one story; with equal scores either English report may come
    # first (polls finish in any order), so the story must be one of the real ones
    head, _, story = readme_examples.normalise(m.group(1)).partition("\n\n")
    real_head, _, real_stories = readme_examples.normalise(real).partition("\n\n")
    assert head == real_head
    assert story.strip() in [s.strip() for s in real_stories.split("\n\n")], \
        f"README watchlist test example differs from a real run:\n{real}"
