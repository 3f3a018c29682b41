"""Move monitor/ from 40-odd flat modules into packages by role, in one command.

    python tools/relayout.py            # apply (git mv + rewrite references), then print a summary
    python tools/relayout.py --dry-run  # print what would move and which files would change

Run it on the merged tree (after the store package of branch s17 has landed), then
``git diff``, ``make lint``, ``make test`` and commit; exit status 1 means some top-level module
of monitor/ has no mapping yet (add it to MOVES and run again).

The target reads in the order data flows (nine entries at the top of monitor/)::

    monitor/
      __init__.py  __main__.py   the version and the error tree (MonitorError, Problem, ...)
      config/      config.yaml: load and validate, round-trip edits, OPML, units, YAML loading
      ingest/      bytes in, typed entries out: fetch, robots, full text, parse, seeds, scrub
      analysis/    pure functions of an entry: keys, language, translation, near-dups, stories
        watchlists/  the watchlist language: load, engine, text preparation, morphology
      store/       the only package that speaks SQL (built on branch s17: left alone here)
      delivery/    digest values, rendering (+ templates/), channels, exactly-once dispatch
      service/     the running service: pipeline, scheduler, retranslation, logs, sd_notify
      cli/         the ``monitor`` command (entry point ``monitor.cli:main`` unchanged), demo

Why ``errors`` is the package itself: the store may import nothing of ours but the error tree,
and every other package needs it too; ``from monitor import ConfigError`` keeps it a leaf that
costs no import, and keeps the top of monitor/ under ten entries.

What it does, in order (each step is idempotent: a second run changes nothing):
1. ``git mv`` every module in :data:`MOVES` (and :data:`ANTICIPATED`, the modules other branches
   are adding, when present); a move whose target exists already is skipped. Data folders move
   with the module that reads them (``templates/`` with render, ``data/models`` with the model
   code, ``data/demo`` with the demo), so ``Path(__file__).parent / ...`` keeps pointing at them.
2. Folds ``monitor/errors.py`` into ``monitor/__init__.py`` (docstring and ``__version__`` kept).
3. Rewrites references in every tracked text file (code, tests, bench, tools, README, docs,
   Makefile, pyproject, systemd, CI): ``from monitor.X import``, ``import monitor.X [as Y]``,
   ``from monitor import X`` (regrouped by the new parent package, ``as X`` where the name
   changed), dotted strings (monkeypatch targets, logger names, ``:mod:`` roles), file paths
   (``monitor/X.py``, ``monitor/templates``, ``"monitor" / "data" / "models"``) and
   ``Path(__file__)`` climbs to the repository root of files that moved one folder deeper.
4. Warns about every top-level module of monitor/ it has no mapping for.

Only whole files move; no file is split, so the move can be re-run on a merged tree.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Move:
    old: str  # path relative to the repository root
    new: str


M = Move
# Every module of monitor/ today, old path -> new path.
MOVES: tuple[Move, ...] = (
    # config: what the operator writes and how it is read back
    M("monitor/config.py", "monitor/config/__init__.py"),
    M("monitor/config_edit.py", "monitor/config/edit.py"),
    M("monitor/opml.py", "monitor/config/opml.py"),
    M("monitor/units.py", "monitor/config/units.py"),
    M("monitor/yaml_load.py", "monitor/config/yaml_load.py"),
    M("monitor/setup_check.py", "monitor/config/setup_check.py"),
    # ingest: bytes in, typed entries out
    M("monitor/fetch.py", "monitor/ingest/fetch.py"),
    M("monitor/robots.py", "monitor/ingest/robots.py"),
    M("monitor/fulltext.py", "monitor/ingest/fulltext.py"),
    M("monitor/extract_worker.py", "monitor/ingest/extract_worker.py"),
    M("monitor/parse.py", "monitor/ingest/parse.py"),
    M("monitor/seeds.py", "monitor/ingest/seeds.py"),
    M("monitor/scrub.py", "monitor/ingest/scrub.py"),
    # analysis: pure functions of an entry
    M("monitor/dedup.py", "monitor/analysis/dedup.py"),
    M("monitor/language.py", "monitor/analysis/language.py"),
    M("monitor/language_codes.py", "monitor/analysis/language_codes.py"),
    M("monitor/translit.py", "monitor/analysis/translit.py"),
    M("monitor/translate.py", "monitor/analysis/translate.py"),
    M("monitor/argos_models.py", "monitor/analysis/argos_models.py"),
    M("monitor/multilingual_models.py", "monitor/analysis/multilingual_models.py"),
    M("monitor/model_archive.py", "monitor/analysis/model_archive.py"),
    M("monitor/data/models", "monitor/analysis/data/models"),
    M("monitor/neardup.py", "monitor/analysis/neardup.py"),
    M("monitor/neardup_bands.py", "monitor/analysis/neardup_bands.py"),
    M("monitor/story.py", "monitor/analysis/story.py"),
    M("monitor/story_text.py", "monitor/analysis/story_text.py"),
    # the watchlist language (matching is a pure function of an entry too)
    M("monitor/watchlist.py", "monitor/analysis/watchlists/__init__.py"),
    M("monitor/watchlist_engine.py", "monitor/analysis/watchlists/engine.py"),
    M("monitor/watchlist_text.py", "monitor/analysis/watchlists/text.py"),
    # delivery
    M("monitor/digest.py", "monitor/delivery/digest.py"),
    M("monitor/render.py", "monitor/delivery/render.py"),
    M("monitor/templates", "monitor/delivery/templates"),
    M("monitor/deliver.py", "monitor/delivery/channels.py"),
    M("monitor/dispatch.py", "monitor/delivery/dispatch.py"),
    # service: the running thing
    M("monitor/pipeline.py", "monitor/service/pipeline.py"),
    M("monitor/scheduler.py", "monitor/service/scheduler.py"),
    M("monitor/retranslate.py", "monitor/service/retranslate.py"),
    M("monitor/daemon_state.py", "monitor/service/daemon_state.py"),
    M("monitor/workers.py", "monitor/service/workers.py"),
    M("monitor/sdnotify.py", "monitor/service/sdnotify.py"),
    M("monitor/logs.py", "monitor/service/logs.py"),
    M("monitor/wording.py", "monitor/service/wording.py"),
    # cli
    M("monitor/cli.py", "monitor/cli/__init__.py"),
    M("monitor/feeds_cli.py", "monitor/cli/feeds.py"),
    M("monitor/seed_add.py", "monitor/cli/seed_add.py"),
    M("monitor/demo.py", "monitor/cli/demo.py"),
    M("monitor/data/demo", "monitor/cli/data/demo"),
    # test-support servers: a package the benchmarks import as ``tests.support.*``
    M("tests/feedserver.py", "tests/support/feedserver.py"),
    M("tests/faultserver.py", "tests/support/faultserver.py"),
    M("tests/argospkg.py", "tests/support/argospkg.py"),
)

# Modules other branches are adding (issue #21 part 2, #17/#18 ingest speed); moved when present.
ANTICIPATED: tuple[Move, ...] = (
    M("monitor/text.py", "monitor/analysis/text.py"),
    M("monitor/yamlcheck.py", "monitor/config/yamlcheck.py"),
    M("monitor/cycle.py", "monitor/service/cycle.py"),
    M("monitor/services.py", "monitor/service/services.py"),
    M("monitor/signature.py", "monitor/analysis/signature.py"),
    M("monitor/analysis_pool.py", "monitor/service/analysis_pool.py"),
    M("monitor/workers_lease.py", "monitor/service/workers_lease.py"),
    M("monitor/worker_leases.py", "monitor/service/worker_leases.py"),
    M("monitor/watchlist_cache.py", "monitor/service/watchlist_cache.py"),
    M("monitor/morphology.py", "monitor/analysis/morphology.py"),
    M("monitor/credentials.py", "monitor/config/credentials.py"),
    M("monitor/database_url.py", "monitor/config/database_url.py"),
    M("monitor/db_cli.py", "monitor/cli/db.py"),
    M("monitor/cli_output.py", "monitor/cli/output.py"),
)

# monitor/errors.py is folded into the package's __init__.py (see the module docstring).
ERRORS = "monitor/errors.py"
INIT = "monitor/__init__.py"

# Top-level entries of monitor/ that are the target layout (or another branch's business).
KNOWN_TOP = {"__init__.py", "__main__.py", "__pycache__", "store.py", "config", "ingest", "analysis", "store",
             "delivery", "service", "cli"}

# Files whose text is never rewritten: this script (its table is the old names on purpose) and
# the import-graph test (written for the new layout; it also accepts a monitor.errors module) and
# the script's own test (its samples are old names).
SKIP_REWRITE = {"tools/relayout.py", "tests/test_import_graph.py", "tests/test_relayout.py"}

# Test-support modules importable by bare name from tests/ (pytest puts tests/ on sys.path).
TEST_SUPPORT = {"feedserver", "faultserver", "argospkg"}


def dotted(path: str) -> str:
    """``monitor/config/__init__.py`` -> ``monitor.config``; ``tests/x.py`` -> ``tests.x``."""
    p = path[:-3] if path.endswith(".py") else path
    if p.endswith("/__init__"):
        p = p[: -len("/__init__")]
    return p.replace("/", ".")


def git(*args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def active_moves() -> list[Move]:
    return [*MOVES, *(m for m in ANTICIPATED if (ROOT / m.old).exists() or (ROOT / m.new).exists())]


def module_renames(moves: Iterable[Move]) -> dict[str, str]:
    """Dotted old name -> dotted new name, for the moves of Python modules under monitor/."""
    out = {dotted(m.old): dotted(m.new) for m in moves if m.old.endswith(".py") and m.old.startswith("monitor/")}
    out[dotted(ERRORS)] = "monitor"
    return out


def path_renames(moves: Iterable[Move]) -> dict[str, str]:
    out = {m.old: m.new for m in moves}
    out[ERRORS] = INIT
    return out


# ---------------------------------------------------------------- step 1 and 2: moving files

def do_moves(moves: list[Move], dry: bool) -> tuple[list[str], set[str]]:
    """git mv each move not done yet; returns the summary lines and the new paths moved now."""
    done: list[str] = []
    moved: set[str] = set()
    for m in moves:
        src, dst = ROOT / m.old, ROOT / m.new
        if not src.exists():
            if not dst.exists():
                print(f"warning: neither {m.old} nor {m.new} exists: nothing to move", file=sys.stderr)
            continue
        if dst.exists():
            print(f"warning: {m.old} and {m.new} both exist: left as they are", file=sys.stderr)
            continue
        done.append(f"moved {m.old} -> {m.new}")
        moved.add(m.new)
        if dry:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        git("mv", m.old, m.new)
    if not dry:
        for pkg in sorted({str(Path(m.new).parent) for m in moves if m.new.startswith(("monitor/", "tests/"))}):
            init = ROOT / pkg / "__init__.py"
            if pkg.startswith("monitor/") and (ROOT / pkg).is_dir() and not init.exists() \
                    and not pkg.endswith(("/data", "/templates")) and "/data/" not in pkg:
                init.write_text(f'"""{PACKAGE_DOCS.get(pkg, pkg)}"""\n', encoding="utf-8")
                git("add", str(init.relative_to(ROOT)))
                done.append(f"created {init.relative_to(ROOT)}")
        # tests/ becomes a regular package so that ``tests.support`` wins over the ``tests`` package
        # argostranslate installs into site-packages (a namespace package would lose to it)
        for rel, doc in (("tests/__init__.py", "news-monitor's tests (a package, so that tests.support imports)."),
                         ("tests/support/__init__.py", "Servers and helpers the tests and benchmarks share: real "
                                                       "HTTP and SMTP on 127.0.0.1.")):
            init = ROOT / rel
            if (ROOT / "tests/support").is_dir() and not init.exists():
                init.write_text(f'"""{doc}"""\n', encoding="utf-8")
                git("add", rel)
                done.append(f"created {rel}")
    return done, moved


PACKAGE_DOCS = {
    "monitor/config": "config.yaml",
    "monitor/ingest": "Ingest: bytes in, typed entries out (fetch, robots.txt, full text, parse, seeds).",
    "monitor/analysis": "Analysis: pure functions of an entry (exact keys, language, translation, "
                        "near-duplicates, stories, watchlists).",
    "monitor/delivery": "Delivery: digest values, rendering, channels and the exactly-once dispatch.",
    "monitor/service": "The running service: the pipeline, the daemon's jobs, retranslation, logs, sd_notify.",
}


def fold_errors(dry: bool) -> list[str]:
    """Put the error tree into monitor/__init__.py (keeping its docstring's first line and __version__)."""
    errors, init = ROOT / ERRORS, ROOT / INIT
    if not errors.exists():
        return []
    if dry:
        return [f"fold {ERRORS} into {INIT}"]
    init_text, err_text = init.read_text(encoding="utf-8"), errors.read_text(encoding="utf-8")
    init_tree, err_tree = ast.parse(init_text), ast.parse(err_text)
    title = (ast.get_docstring(init_tree) or "news-monitor.").strip().splitlines()[0]
    err_doc = ast.get_docstring(err_tree, clean=False) or ""
    # the statements of __init__.py other than its docstring (e.g. __version__ = ...)
    init_lines = init_text.splitlines(keepends=True)
    body = [n for n in init_tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    extra = "".join("".join(init_lines[n.lineno - 1:n.end_lineno]) for n in body)
    # after errors.py's docstring and imports
    err_lines = err_text.splitlines(keepends=True)
    head = [n for n in err_tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    cut = 0
    for n in err_tree.body:
        if n in head:
            cut = n.end_lineno or cut
        else:
            break
    doc_node = err_tree.body[0]
    rest_head = "".join(err_lines[doc_node.end_lineno:cut]) if isinstance(doc_node, ast.Expr) else ""
    text = (f'"""{title}\n\n{err_doc.strip()}\n"""\n' + rest_head + "\n" + extra + "".join(err_lines[cut:]))
    init.write_text(text, encoding="utf-8")
    git("rm", "-q", ERRORS)
    git("add", INIT)
    return [f"folded {ERRORS} into {INIT}"]


# ---------------------------------------------------------------- step 3: rewriting references

def rewrite_from_monitor_import(text: str, renames: dict[str, str]) -> str:
    """``from monitor import a, b as c`` -> one line per new parent package."""
    pat = re.compile(r"^(?P<ind>[ \t]*)from monitor import (?P<names>\([^)]*\)|[^\n#]+?)(?P<tail>[ \t]*(#[^\n]*)?)$",
                     re.M)

    def repl(m: re.Match[str]) -> str:
        raw = m.group("names").strip().strip("()")
        items = [s.strip() for s in raw.replace("\n", " ").split(",") if s.strip()]
        groups: dict[str, list[str]] = {}
        for item in items:
            name, _, alias = (p.strip() for p in item.partition(" as "))
            new = renames.get(f"monitor.{name}")
            bound = alias or name
            if new is None or new == f"monitor.{name}":
                groups.setdefault("monitor", []).append(item)
            elif new == "monitor":  # `from monitor import errors` -> the package itself
                groups.setdefault(f"import monitor as {bound}", [])
            else:
                parent, _, leaf = new.rpartition(".")
                groups.setdefault(parent, []).append(leaf if leaf == bound else f"{leaf} as {bound}")
        if list(groups) == ["monitor"] and len(items) == len(groups["monitor"]):
            return m.group(0)
        lines = []
        for parent, names in groups.items():
            if parent.startswith("import "):
                lines.append(m.group("ind") + parent)
            else:
                lines.append(f"{m.group('ind')}from {parent} import {', '.join(names)}")
        lines[0] += m.group("tail")
        return "\n".join(lines)

    return pat.sub(repl, text)


def rewrite_dotted(text: str, renames: dict[str, str]) -> str:
    """``monitor.X`` (imports, strings, logger names, prose) -> its new dotted name."""
    old = sorted((k for k, v in renames.items() if k != v), key=len, reverse=True)
    if not old:
        return text
    pat = re.compile(r"(?<![\w.])(" + "|".join(re.escape(o) for o in old) + r")(?![\w])")

    def repl(m: re.Match[str]) -> str:
        new = renames[m.group(1)]
        return new

    text = pat.sub(repl, text)
    # the errors fold leaves `import monitor as monitor`-like no-ops: tidy the common forms
    return re.sub(r"^(\s*)import monitor as monitor\s*$", r"\1import monitor", text, flags=re.M)


def rewrite_paths(text: str, paths: dict[str, str]) -> str:
    """File paths ``monitor/X.py``, ``monitor/templates`` and ``"monitor" / "data" / "x"`` chains."""
    old = sorted(paths, key=len, reverse=True)
    pat = re.compile(r"(?<![\w\-./])(" + "|".join(re.escape(o) for o in old) + r")(?![\w\-])")
    text = pat.sub(lambda m: paths[m.group(1)], text)
    # Path segments: ROOT / "monitor" / "data" / "models"  (folders only)
    for o, n in paths.items():
        if o.endswith(".py"):
            continue
        o_parts, n_parts = o.split("/"), n.split("/")
        for q in ('"', "'"):
            seg = r"\s*/\s*".join(re.escape(q + p + q) for p in o_parts)
            text = re.sub(r"(?<![\w\"'])" + seg + r"(?![\w])", " / ".join(q + p + q for p in n_parts), text)
    return text


def fix_file_climbs(text: str, extra_depth: int) -> str:
    """``Path(__file__).resolve().parent.parent`` (the repository root) one level up per extra folder."""
    if extra_depth <= 0:
        return text
    pat = re.compile(r"(Path\(__file__\)(?:\.resolve\(\))?)((?:\.parent){2,})(?![\w.]*\s*/\s*[\"']data[\"'])")
    return pat.sub(lambda m: m.group(1) + m.group(2) + ".parent" * extra_depth, text)


def rewrite_support_imports(text: str) -> str:
    """``from feedserver import`` -> ``from tests.support.feedserver import`` (tests and bench)."""
    for name in TEST_SUPPORT:
        text = re.sub(rf"^(\s*)from {name} import", rf"\1from tests.support.{name} import", text, flags=re.M)
        text = re.sub(rf"^(\s*)import {name} as (\w+)", rf"\1import tests.support.{name} as \2", text, flags=re.M)
    return text


def tracked_text_files() -> list[Path]:
    out = []
    for rel in git("ls-files", "-z").split("\0"):
        if not rel or rel in SKIP_REWRITE or "/data/" in f"/{rel}" and not rel.endswith((".md", ".py")):
            continue
        p = ROOT / rel
        if not p.is_file() or p.stat().st_size > 2_000_000:
            continue
        try:
            raw = p.read_bytes()
            if b"\0" in raw:
                continue
            raw.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        out.append(p)
    return out


def rewrite_all(moves: list[Move], moved_now: set[str], dry: bool) -> list[str]:
    renames = module_renames(moves)
    paths = path_renames(moves)
    # only files moved by this run climb one more folder (a second run must not climb again)
    depth_change = {m.new: m.new.count("/") - m.old.count("/") for m in moves
                    if m.new.endswith(".py") and m.new in moved_now}
    changed = []
    for p in tracked_text_files():
        rel = str(p.relative_to(ROOT))
        text = p.read_text(encoding="utf-8")
        new = text
        if p.suffix == ".py":
            new = rewrite_from_monitor_import(new, renames)
            new = fix_file_climbs(new, depth_change.get(rel, 0))
            if rel.startswith(("tests/", "bench/", "tools/")):
                new = rewrite_support_imports(new)
            if rel.startswith("tests/support/"):
                # probes run with ``python -c`` get the repository root, so ``tests.support`` imports
                new = new.replace("str(Path(__file__).parent)", "str(ROOT)")
            if rel.startswith("bench/"):
                new = re.sub(r'^sys\.path\.insert\(0, str\(ROOT / "tests"\)\)\n', "", new, flags=re.M)
        new = rewrite_dotted(new, renames)
        new = rewrite_paths(new, paths)
        if rel == "pyproject.toml":
            new = rewrite_package_data(new)
        if rel == "README.md":
            new = rewrite_readme_layout(new)
        if new != text:
            changed.append(rel)
            if not dry:
                p.write_text(new, encoding="utf-8")
    return changed


README_LAYOUT = """\
monitor/                 the package, by role, in the order data flows (see "What a cycle does")
  __init__.py            the version and the error tree (MonitorError, ConfigError, ..., Problem)
  config/                config.yaml: load + validate, round-trip edits, OPML, units, YAML loading
  ingest/                fetch, robots.txt, full text, parse, seeds, scrub: bytes in, entries out
  analysis/              exact keys, language, translation (+ data/models/: the small bundled
                         ru->en and en->ru Argos models and the multilingual test model),
                         near-duplicates, stories; watchlists/: load, engine, text, morphology
  store/                 the only code that speaks SQL
  delivery/              digest values, render (+ templates/), channels, exactly-once dispatch
  service/               pipeline, scheduler (the daemon), retranslation, logs, sd_notify
  cli/                   the monitor command (+ demo.py and data/demo/, the demo's sample feeds)
"""


README_SUPPORT = "  support/               the feed, fault and SMTP servers the tests and benchmarks share\n"


def rewrite_readme_layout(text: str) -> str:
    """The Layout block of README.md's Development section: the monitor/ lines, tests/support/."""
    text = re.sub(r"^monitor/ +the package, one module per stage.*?\n(?=tests/ )", lambda _m: README_LAYOUT, text,
                  flags=re.M | re.S)
    if README_SUPPORT not in text:
        text = re.sub(r"^(tests/ {19}.*\n)", lambda m: m.group(1) + README_SUPPORT, text, count=1, flags=re.M)
    return text


def rewrite_package_data(text: str) -> str:
    """setuptools package-data: the folders that moved with their modules."""
    return re.sub(r'^monitor = \[[^\]]*\]$',
                  'monitor = ["delivery/templates/*", "analysis/data/**/*", "cli/data/**/*"]', text, flags=re.M)


def sort_imports(files: list[str]) -> None:
    """Re-sort the import blocks the rewrite touched (ruff's isort rule only: no reformatting)."""
    if not files:
        return
    ruff = Path(sys.executable).with_name("ruff")
    cmd = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    proc = subprocess.run([*cmd, "check", "--select", "I001", "--fix", "--quiet", *files], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        print(f"warning: ruff could not sort imports ({proc.stderr.strip()[:200]}): run "
              "`ruff check --select I001 --fix` by hand", file=sys.stderr)


# ---------------------------------------------------------------- step 4: what is not mapped

def unmapped(moves: list[Move]) -> list[str]:
    mapped_top = {m.old.split("/")[1] for m in [*MOVES, *ANTICIPATED] if m.old.startswith("monitor/")}
    out = []
    for entry in sorted((ROOT / "monitor").iterdir()):
        if entry.name in KNOWN_TOP or entry.name.endswith((".pyc", ".egg-info")):
            continue
        if entry.name == "data" and not any(entry.iterdir()):
            continue
        if entry.name in mapped_top or entry.name == Path(ERRORS).name:
            continue  # moved by this run (or would be, in a dry run)
        out.append(entry.name)
    return out


def store_note() -> str | None:
    if (ROOT / "monitor/store.py").exists() and not (ROOT / "monitor/store/__init__.py").exists():
        return ("note: monitor/store.py is still a module: the store package comes from branch s17 "
                "(merge it first; this script leaves the store alone)")
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    args = ap.parse_args(argv)
    moves = active_moves()
    done, moved_now = do_moves(moves, args.dry_run)
    done += fold_errors(args.dry_run)
    changed = rewrite_all(moves, moved_now, args.dry_run)
    data = ROOT / "monitor" / "data"
    if not args.dry_run and data.is_dir() and not any(p.is_file() for p in data.rglob("*")):
        for d in sorted(data.rglob("*"), reverse=True):
            d.rmdir()
        data.rmdir()
    if not args.dry_run:
        sort_imports([rel for rel in changed if rel.endswith(".py")])
    for line in done:
        print(("would: " if args.dry_run else "") + line)
    print(f"{'would rewrite' if args.dry_run else 'rewrote'} references in {len(changed)} files")
    for rel in changed:
        print(f"  {rel}")
    left = unmapped(moves)
    for name in left:
        print(f"warning: monitor/{name} has no mapping in tools/relayout.py: move it by hand or add it to MOVES",
              file=sys.stderr)
    note = store_note()
    if note:
        print(note, file=sys.stderr)
    if args.dry_run:
        return 1 if left else 0
    top = sorted(p.name for p in (ROOT / "monitor").iterdir() if p.name != "__pycache__")
    print(f"monitor/ now holds {len(top)} entries: {' '.join(top)}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
