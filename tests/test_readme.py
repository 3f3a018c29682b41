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
