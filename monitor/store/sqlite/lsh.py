"""Near-duplicate signatures (``neardup_*``): bytes in, bytes out; the maths is in monitor.analysis.neardup."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.store.api import DocKind, SignatureRecord
from monitor.store.sqlite.base import Db, chunks, marks

SIG_COLS = "doc_key, kind, story_id, n_shingles, n_words, translated, shingles, words, anchors, shingle_set, id"


def signature_record(r: Sequence[Any]) -> SignatureRecord:
    return SignatureRecord(r[0], r[1], r[2], int(r[3]), int(r[4]), bool(r[5]), bytes(r[6]), bytes(r[7]),
                           bytes(r[8]), None if r[9] is None else bytes(r[9]), int(r[10]))


class SqliteLsh:
    def __init__(self, db: Db) -> None:
        self.db = db

    def settings(self) -> dict[str, str]:
        return {k: v for k, v in self.db.all("SELECT key, value FROM neardup_meta")}

    def init_settings(self, want: Mapping[str, str]) -> dict[str, str]:
        """Store the keys of ``want`` not stored yet (another process may create the index at the same
        moment: the first one's values stay); return every stored setting."""
        self.db.many("INSERT OR IGNORE INTO neardup_meta(key, value) VALUES (?, ?)", list(want.items()))
        return self.settings()

    def put(self, doc: SignatureRecord) -> tuple[int, SignatureRecord | None]:
        with self.db.transaction():
            old = self.get(doc.doc_key)
            if old is not None:
                self.db.run("DELETE FROM neardup_docs WHERE id = ?", (old.id,))
            new_id = self.db.run(
                "INSERT INTO neardup_docs(doc_key, kind, story_id, n_shingles, n_words, translated, shingles, words, "
                "anchors, shingle_set) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc.doc_key, doc.kind, doc.story_id, doc.n_shingles, doc.n_words, int(doc.translated), doc.shingles,
                 doc.words, doc.anchors, doc.shingle_set))
        return new_id, old

    def forget_bands(self, doc_id: int, keys: Sequence[int]) -> None:
        """Band rows of ``doc_id`` written by versions that kept the band keys in SQLite."""
        self.db.many("DELETE FROM neardup_bands WHERE key = ? AND doc_id = ?", [(k, doc_id) for k in keys])

    def get(self, doc_key: str) -> SignatureRecord | None:
        r = self.db.one(f"SELECT {SIG_COLS} FROM neardup_docs WHERE doc_key = ?", (doc_key,))
        return None if r is None else signature_record(r)

    def by_ids(self, ids: Sequence[int], *, items_only: bool = False) -> list[SignatureRecord]:
        out: list[SignatureRecord] = []
        extra = " AND kind = 'item'" if items_only else ""
        for chunk in chunks(list(ids)):
            out += [signature_record(r) for r in self.db.all(
                f"SELECT {SIG_COLS} FROM neardup_docs WHERE id IN ({marks(len(chunk))}){extra}", chunk)]
        return out

    def set_story(self, doc_key: str, story_id: int | None) -> None:
        self.db.run("UPDATE neardup_docs SET story_id = ? WHERE doc_key = ?", (story_id, doc_key))

    def max_id(self) -> int:
        return int(self.db.one("SELECT COALESCE(MAX(id), 0) FROM neardup_docs")[0])  # type: ignore[index]

    def ids_after(self, after: int) -> list[int]:
        return [int(r[0]) for r in self.db.all("SELECT id FROM neardup_docs WHERE id > ? ORDER BY id", (after,))]

    def count(self, kind: DocKind | None = None) -> int:
        if kind is None:
            return int(self.db.one("SELECT COUNT(*) FROM neardup_docs")[0])  # type: ignore[index]
        return int(self.db.one("SELECT COUNT(*) FROM neardup_docs WHERE kind = ?", (kind,))[0])  # type: ignore[index]

    def seeds(self) -> list[SignatureRecord]:
        return [signature_record(r) for r in self.db.all(f"SELECT {SIG_COLS} FROM neardup_docs WHERE kind = 'seed'")]

    def location(self) -> str | None:
        return None if self.db.path is None else str(self.db.path)
