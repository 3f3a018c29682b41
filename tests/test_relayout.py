"""tools/relayout.py: every module has a home, and its reference rewrites are right and idempotent."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("relayout", ROOT / "tools" / "relayout.py")
assert _spec and _spec.loader
relayout = importlib.util.module_from_spec(_spec)
sys.modules["relayout"] = relayout
_spec.loader.exec_module(relayout)

MOVES = relayout.active_moves()
RENAMES = relayout.module_renames(MOVES)
PATHS = relayout.path_renames(MOVES)


def rewrite(text: str) -> str:
    text = relayout.rewrite_from_monitor_import(text, RENAMES)
    text = relayout.rewrite_dotted(text, RENAMES)
    return relayout.rewrite_paths(text, PATHS)


def test_every_module_of_monitor_has_a_home():
    assert relayout.unmapped(MOVES) == []


def test_no_two_modules_land_on_one_path():
    targets = [m.new for m in MOVES]
    assert len(targets) == len(set(targets))


def test_the_layout_has_under_ten_entries_at_the_top():
    top = {m.new.split("/")[1] for m in MOVES if m.new.startswith("monitor/")}
    assert len(top | {"__init__.py", "__main__.py", "store"}) < 10


def test_from_monitor_import_regroups_by_the_new_package():
    src = ("from monitor import argos_models, multilingual_models\n"
           "    from monitor import watchlist, store  # lazy\n"
           "from monitor import __version__, store\n"
           "from monitor import errors\n")
    assert rewrite(src) == ("from monitor.analysis import argos_models, multilingual_models\n"
                            "    from monitor.analysis import watchlists as watchlist  # lazy\n"
                            "    from monitor import store\n"
                            "from monitor import __version__, store\n"
                            "import monitor as errors\n")


def test_dotted_names_in_code_strings_and_prose():
    src = ('from monitor.errors import ConfigError\n'
           'import monitor.pipeline as pipeline\n'
           'monkeypatch.setattr("monitor.deliver.smtplib.SMTP", fake)\n'
           'caplog.at_level("WARNING", logger="monitor.fulltext")\n'
           'from monitor.config_edit import append_feeds\n'
           'from monitor.config import load_config\n'
           'See :mod:`monitor.watchlist_engine` and monitor.watchlist.\n')
    assert rewrite(src) == ('from monitor import ConfigError\n'
                            'import monitor.service.pipeline as pipeline\n'
                            'monkeypatch.setattr("monitor.delivery.channels.smtplib.SMTP", fake)\n'
                            'caplog.at_level("WARNING", logger="monitor.ingest.fulltext")\n'
                            'from monitor.config.edit import append_feeds\n'
                            'from monitor.config import load_config\n'
                            'See :mod:`monitor.analysis.watchlists.engine` and monitor.analysis.watchlists.\n')


def test_paths_move_and_look_alikes_stay():
    src = ('`monitor/pipeline.py` and monitor/data/models/multilingual-tiny/\n'
           'ROOT / "monitor" / "data" / "models" / "multilingual-tiny"\n'
           'Documentation=file:///opt/news-monitor/README.md\n'
           'monitor/templates/digest.md.j2, monitor/pipeline_extra.py\n')
    assert rewrite(src) == ('`monitor/service/pipeline.py` and monitor/analysis/data/models/multilingual-tiny/\n'
                            'ROOT / "monitor" / "analysis" / "data" / "models" / "multilingual-tiny"\n'
                            'Documentation=file:///opt/news-monitor/README.md\n'
                            'monitor/delivery/templates/digest.md.j2, monitor/pipeline_extra.py\n')


def test_rewrites_are_idempotent():
    src = ("from monitor import watchlist, language\nfrom monitor.parse import parse_feed\n"
           "x = 'monitor.translate'  # monitor/data/demo/feeds.json\n")
    once = rewrite(src)
    assert once != src
    assert rewrite(once) == once


def test_repository_root_climbs_one_more_folder_per_level():
    src = 'REPO = Path(__file__).resolve().parent.parent\nDATA = Path(__file__).parent / "data"\n'
    assert relayout.fix_file_climbs(src, 1) == ('REPO = Path(__file__).resolve().parent.parent.parent\n'
                                               'DATA = Path(__file__).parent / "data"\n')
    assert relayout.fix_file_climbs(src, 0) == src


def test_support_servers_import_as_a_package():
    src = "from feedserver import Route, rss\nimport faultserver as fs\nfrom feedserver_x import y\n"
    assert relayout.rewrite_support_imports(src) == ("from tests.support.feedserver import Route, rss\n"
                                                     "import tests.support.faultserver as fs\n"
                                                     "from feedserver_x import y\n")
