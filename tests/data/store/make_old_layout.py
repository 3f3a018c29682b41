"""Made tests/data/store/old_layout_v3.db: a state file written by the code before the typed store.

Run with an export of commit 50a1139 first on the path:
    git archive 50a1139 monitor | tar -x -C /tmp/old && PYTHONPATH=/tmp/old python make_old_layout.py OUT.db
"""
import sqlite3, sys, time
from pathlib import Path
import monitor
from monitor import store
from monitor.neardup import NearDupIndex, make_signature
from monitor.story import StoryIndex
from monitor.story_text import story_text
from monitor.fulltext import _create as ft_create, _write as ft_write
from monitor.robots import _create as rb_create, _write as rb_write

out = Path(sys.argv[1])
out.unlink(missing_ok=True)
conn = store.connect(out)
ids = store.sync_feeds(conn, [("http://127.0.0.1:9/a.xml", "Alpha"), ("seeds:", "seeds")])
fid = ids["http://127.0.0.1:9/a.xml"]
nd = NearDupIndex(conn)
si = StoryIndex(conn)
now = time.time()
with store.transaction(conn):
    first = store.reserve_item_ids(conn, 2)
    for n, (title, text) in enumerate([("Wheat exports rise", "Kazakhstan wheat exports rose by a fifth in May."),
                                       ("Rail freight record", "Freight trains carried a record tonnage of grain.")]):
        iid = first + n
        store.insert_item(conn, dict(id=iid, feed_id=fid, guid=f"g{n}", link=f"http://127.0.0.1:9/{n}", title=title,
                                     summary=text, fetched=now, language="en", content_hash=f"h{n}", story_id=iid,
                                     translation_status="not_needed"),
                          [("url", f"http://127.0.0.1:9/{n}"), ("content", f"h{n}"), ("guid", f"{fid} g{n}")])
        store.save_matches(conn, iid, [("grain", 3.0, ["\"wheat\" in title"])], now)
        nd.add(f"item:{iid}", "item", make_signature(f"{title}\n{text}", None, "en"), iid)
        si.add(iid, iid, now, story_text(title, text, "en"))
ft_create(conn); ft_write(conn, "http://127.0.0.1:9/article", "Article text " * 30, now, "ok")
rb_create(conn); rb_write(conn, "http://127.0.0.1:9", "User-agent: *\nAllow: /\n", "ok", now)
conn.close()
from monitor.translate import Translator
t = Translator(out, Path("/nonexistent-models"))
t._cache_put([("0" * 64, "ru", "Old text")], "old-v1")
t.close()
raw = sqlite3.connect(out)
raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
raw.execute("VACUUM")
print(raw.execute("PRAGMA user_version").fetchone(), [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")])
raw.close()
