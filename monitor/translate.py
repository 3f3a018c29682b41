"""Translation stage: offline machine translation with Argos Translate packages.

Texts are split into sentences (the package's own MiniSBD splitter when it ships one, else a
rule-based splitter; never a download), translated in batches with CTranslate2 through the
package's tokenizer, and joined back. Results are cached in SQLite by (sha256 of the source
text, source language, target language, model version), so nothing is translated twice and a
cache hit never touches a model. Without a direct model the stage pivots through English.

Heavy imports (argostranslate, ctranslate2, onnxruntime) happen on the first real translation,
so importing this module is cheap and the daemon reaches READY without them. torch is never
imported: the stage uses argostranslate.package (metadata, tokenizer), ctranslate2 and minisbd,
not argostranslate.translate.

Every model is self-checked when it loads: a known sentence must come back sane (bounded length,
no runaway repetition such as "law law law ntntnt", expected words when the target is English).
A model that fails is marked unavailable with the reason and is never used.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor import argos_models
from monitor.argos_models import ModelInfo, list_models

TRANSLATED = "translated"
CACHED = "cached"
NOT_NEEDED = "not_needed"
UNAVAILABLE = "unavailable"

PIVOT = "en"
MAX_DECODING_LENGTH = 256


@dataclass(frozen=True)
class TranslationResult:
    """The outcome for one (text, source language) request."""

    text: str | None  # translated text, None if not translated
    status: str  # "translated" | "cached" | "not_needed" | "unavailable"
    reason: str | None  # why unavailable, e.g. "no model kk->en"
    model_version: str | None


# A known sentence per source language and, for models into English, words the translation
# must contain. Languages not listed are checked with a sentence of names and digits only.
CANARIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ru": ("Токаев прибыл в Москву на парад Победы.", ("moscow", "parade")),
    "uk": ("Президент прибув до Москви.", ("moscow",)),
    "kk": ("Президент Мәскеуге келді.", ("moscow",)),
    "de": ("Der Präsident ist nach Moskau gereist.", ("moscow",)),
    "fr": ("Le président est arrivé à Moscou.", ("moscow",)),
    "es": ("El presidente llegó a Moscú.", ("moscow",)),
    "it": ("Il presidente è arrivato a Mosca.", ("moscow",)),
    "pt": ("O presidente chegou a Moscou.", ("moscow",)),
    "pl": ("Prezydent przybył do Moskwy.", ("moscow",)),
    "tr": ("Cumhurbaşkanı Moskova'ya geldi.", ("moscow",)),
    "zh": ("总统抵达莫斯科。", ("moscow",)),
    "ar": ("وصل الرئيس إلى موسكو.", ("moscow",)),
    "en": ("The president arrived in Moscow.", ()),
}
GENERIC_CANARY = "Moscow, Astana, Tashkent 2024."

_WORD = re.compile(r"\w+", re.UNICODE)
_STUTTER = re.compile(r"([^\W\d_]{2,3})\1{2,}|([^\W\d_])\2{4,}", re.UNICODE)  # "ntntnt"
# A text with no match cannot hold two sentences (for scripts that mark sentence ends).
_MAYBE_SPLIT = re.compile(r"[.!?…؟।][»\"'”’)\]]?\s|[。！？]\S", re.UNICODE)
_NO_FAST_PATH = {"th", "lo", "km", "my"}  # sentences end without punctuation
_SENT_END = re.compile(
    r"(?<=[.!?…])([»\"'”’)\]]?)\s+(?=[«\"“„(\['‘]?[\w])", re.UNICODE
)


def sanity_problem(source: str, output: str) -> str | None:
    """Why ``output`` is not a plausible translation of ``source``; None if it is."""
    out = output.strip()
    src = source.strip()
    if not out:
        return "empty output"
    if len(out) > 4 * len(src) + 40:
        return f"output {len(out)} chars for {len(src)} chars of input"
    if len(src) >= 20 and len(out) < 0.15 * len(src):
        return f"output {len(out)} chars for {len(src)} chars of input"
    stutter = _STUTTER.search(out)
    if stutter:
        return f"runaway repetition {stutter.group(0)!r}"
    tokens = [t.lower() for t in _WORD.findall(out)]
    run = 1
    for prev, cur in zip(tokens, tokens[1:]):
        run = run + 1 if cur == prev else 1
        if run >= 3:
            return f"runaway repetition of {cur!r}"
    for n in (2, 3, 4):
        for i in range(len(tokens) - 3 * n + 1):
            gram = tokens[i : i + n]
            if gram == tokens[i + n : i + 2 * n] == tokens[i + 2 * n : i + 3 * n]:
                return f"runaway repetition of {' '.join(gram)!r}"
    if len(tokens) >= 8:
        word, count = Counter(tokens).most_common(1)[0]
        if count > 0.5 * len(tokens):
            return f"runaway repetition of {word!r} ({count} of {len(tokens)} words)"
    return None


def split_sentences_rule(text: str) -> list[str]:
    """Rule-based splitter used when a package ships no MiniSBD model."""
    parts: list[str] = []
    start = 0
    for m in _SENT_END.finditer(text):
        before = text[start : m.start()]
        # not after a one-letter abbreviation such as "В." or "г."
        if re.search(r"(?:^|\s)[^\W\d_]\.$", before):
            continue
        parts.append(text[start : m.start()] + m.group(1))
        start = m.end()
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def normalize_lang(code: str | None) -> str | None:
    """ISO 639-1 code as Argos names it ("zh-TW" -> "zt", "pt-BR" -> "pt")."""
    if not code:
        return None
    code = code.strip().lower().replace("_", "-")
    if code in ("und", "unknown", "xx"):
        return None
    if code in ("zh-tw", "zh-hant", "zh-hk"):
        return "zt"
    return code.split("-", 1)[0]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Model:
    """One loaded Argos package: CTranslate2 translator, tokenizer, sentence splitter."""

    def __init__(self, info: ModelInfo, models_dir: Path, threads: int) -> None:
        self.info = info
        self.version = f"{info.name}@{info.version}"
        with argos_models._LOCK:
            argos_models._settings(models_dir)
            import argostranslate.package as argos_package

            pkg = argos_package.Package(info.path)
        tokenizer = getattr(pkg, "tokenizer", None)
        if tokenizer is None:
            raise RuntimeError("package has no sentencepiece.model or bpe.model")
        self.tokenizer: Any = tokenizer
        self.target_prefix: str = getattr(pkg, "target_prefix", "") or ""
        import ctranslate2

        self.translator = ctranslate2.Translator(
            str(info.path / "model"),
            device="cpu",
            inter_threads=1,
            intra_threads=threads,
            compute_type="auto",
        )
        onnx_files = sorted((info.path / "minisbd").glob("*.onnx"))
        self._sbd: Any = None
        self._sbd_path = onnx_files[0] if onnx_files else None

    def split(self, text: str) -> list[str]:
        text = text.strip()
        if self.info.from_code not in _NO_FAST_PATH and not _MAYBE_SPLIT.search(text):
            return [text] if text else []  # no candidate boundary: one sentence (most titles)
        if self._sbd_path is None:
            return split_sentences_rule(text)
        if self._sbd is None:
            from minisbd import SBDetect

            self._sbd = SBDetect(str(self._sbd_path), use_gpu=False, max_threads=1)
        return [s.strip() for s in self._sbd.sentences(text) if s.strip()]

    def translate(self, sentences: Sequence[str], beam_size: int, batch_size: int) -> list[str]:
        """Translate sentences, at most ``batch_size`` per CTranslate2 batch (1 = one by one)."""
        if not sentences:
            return []
        tokens = [self.tokenizer.encode(s) for s in sentences]
        prefix = [[self.target_prefix]] * len(tokens) if self.target_prefix else None
        # One call: CTranslate2 sorts by length and runs batches of ``batch_size`` itself.
        results = self.translator.translate_batch(
            tokens,
            target_prefix=prefix,
            max_batch_size=max(1, batch_size),
            batch_type="examples",
            beam_size=beam_size,
            num_hypotheses=1,
            length_penalty=0.2,
            replace_unknowns=True,
            max_decoding_length=MAX_DECODING_LENGTH,
        )
        out: list[str] = []
        for r in results:
            value = self.tokenizer.decode(r.hypotheses[0])
            if self.target_prefix and value.startswith(self.target_prefix):
                value = value[len(self.target_prefix) :]
            out.append(value.strip())
        return out


def self_check(translate_one: Callable[[str], str], source_lang: str, target_lang: str) -> str | None:
    """Translate the canary sentence for ``source_lang``; the reason it failed, or None."""
    sentence, expected = CANARIES.get(source_lang, (GENERIC_CANARY, ()))
    try:
        output = translate_one(sentence)
    except Exception as exc:  # a model that crashes is unusable, whatever the cause
        return f"self-check crashed: {exc}"
    problem = sanity_problem(sentence, output)
    if problem is None and target_lang == "en" and expected:
        missing = [w for w in expected if w not in output.lower()]
        if missing:
            problem = f"expected {', '.join(missing)!s} in the translation"
    if problem is not None:
        return f"self-check failed: {sentence!r} -> {output[:80]!r}: {problem}"
    return None


class Translator:
    """The translation stage. Synchronous; the pipeline runs it via ``asyncio.to_thread``."""

    def __init__(
        self,
        db_path: Path,
        models_dir: Path,
        target: str = "en",
        threads: int = 1,
        *,
        beam_size: int = 1,
        batch_size: int = 64,
    ) -> None:
        self.db_path = Path(db_path)
        self.models_dir = Path(models_dir)
        self.target = normalize_lang(target) or "en"
        self.threads = max(1, threads)
        self.beam_size = max(1, beam_size)
        self.batch_size = max(1, batch_size)
        self._lock = threading.RLock()
        self._models: dict[str, _Model] = {}  # by ModelInfo.name
        self._broken: dict[str, str] = {}  # name -> reason
        self.models_loaded = 0  # how many model loads happened (tests, bench)
        self._conn = sqlite3.connect(str(self.db_path), timeout=30.0, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=30000")
        # The cache is re-creatable: no fsync per commit on this connection.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS translation_cache("
                " source_sha256 TEXT NOT NULL, source_lang TEXT NOT NULL,"
                " target_lang TEXT NOT NULL, model_version TEXT NOT NULL,"
                " translated TEXT NOT NULL, created_at REAL NOT NULL,"
                " PRIMARY KEY (source_sha256, source_lang, target_lang, model_version)"
                ") WITHOUT ROWID"
            )
        self._installed: dict[tuple[str, str], ModelInfo] = {}
        self.refresh()

    # ------------------------------------------------------------ models
    def refresh(self) -> None:
        """Re-read the installed models (after ``monitor models install``)."""
        with self._lock:
            self._installed = {m.pair: m for m in list_models(self.models_dir)}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Translator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load(self, info: ModelInfo) -> _Model | str:
        """The loaded, self-checked model, or the reason it is unusable."""
        if info.name in self._models:
            return self._models[info.name]
        if info.name in self._broken:
            return self._broken[info.name]
        try:
            model = _Model(info, self.models_dir, self.threads)
        except Exception as exc:
            reason = f"model {info.name} failed to load: {exc}"
            self._broken[info.name] = reason
            return reason
        self.models_loaded += 1

        def one(sentence: str) -> str:
            return " ".join(model.translate(model.split(sentence), self.beam_size, 1))

        problem = self_check(one, info.from_code, info.to_code)
        if problem is not None:
            reason = f"model {info.name} unusable: {problem}"
            self._broken[info.name] = reason
            return reason
        self._models[info.name] = model
        return model

    def _route(self, source: str) -> list[ModelInfo] | str:
        """Models to chain from ``source`` to the target, or why there are none."""
        direct = self._installed.get((source, self.target))
        if direct is not None:
            return [direct]
        first = self._installed.get((source, PIVOT))
        second = self._installed.get((PIVOT, self.target))
        if source != PIVOT and self.target != PIVOT and first and second:
            return [first, second]
        return f"no model {source}->{self.target}"

    @staticmethod
    def _version(route: list[ModelInfo]) -> str:
        return "+".join(f"{m.name}@{m.version}" for m in route)

    def pairs(self) -> dict[tuple[str, str], str | None]:
        """Installed pairs -> None if usable, or the reason unusable (loads and self-checks)."""
        with self._lock:
            self.refresh()
            out: dict[tuple[str, str], str | None] = {}
            for pair, info in sorted(self._installed.items()):
                loaded = self._load(info)
                out[pair] = loaded if isinstance(loaded, str) else None
            return out

    def availability(self, source: str, *, load: bool = True) -> str | None:
        """None if ``source`` texts can be translated to the target, else the reason.

        With ``load=False`` only the installed models are consulted (no engine import, no
        self-check), which suits start-up reports before READY."""
        src = normalize_lang(source)
        if src is None:
            return "source language unknown"
        if src == self.target:
            return None
        with self._lock:
            route = self._route(src)
            if isinstance(route, str):
                return route
            if not load:
                return self._broken.get(route[0].name) or (
                    self._broken.get(route[-1].name) if len(route) > 1 else None
                )
            for info in route:
                loaded = self._load(info)
                if isinstance(loaded, str):
                    return loaded
            return None

    # ------------------------------------------------------------ translation
    def translate_many(self, requests: list[tuple[str, str]]) -> list[TranslationResult]:
        """Translate (text, source ISO 639-1) pairs to the target; one result per request."""
        with self._lock:
            return self._translate_many(requests)

    def _translate_many(self, requests: list[tuple[str, str]]) -> list[TranslationResult]:
        results: list[TranslationResult | None] = [None] * len(requests)
        # (route version) -> (route, {(text, src): [request indexes]})
        todo: dict[str, tuple[list[ModelInfo], dict[tuple[str, str], list[int]]]] = {}
        for i, (text, source) in enumerate(requests):
            src = normalize_lang(source)
            if text is None or not text.strip():
                results[i] = TranslationResult(None, NOT_NEEDED, None, None)
                continue
            if src is None:
                results[i] = TranslationResult(None, UNAVAILABLE, "source language unknown", None)
                continue
            if src == self.target:
                results[i] = TranslationResult(None, NOT_NEEDED, None, None)
                continue
            route = self._route(src)
            if isinstance(route, str):
                results[i] = TranslationResult(None, UNAVAILABLE, route, None)
                continue
            version = self._version(route)
            todo.setdefault(version, (route, {}))[1].setdefault((text, src), []).append(i)

        for version, (route, texts) in todo.items():
            keys = list(texts)
            cached = self._cache_get([(_sha256(t), s) for t, s in keys], version)
            misses = []
            for key in keys:
                hit = cached.get((_sha256(key[0]), key[1]))
                if hit is not None:
                    for i in texts[key]:
                        results[i] = TranslationResult(hit, CACHED, None, version)
                else:
                    misses.append(key)
            if not misses:
                continue
            models: list[_Model] = []
            reason = None
            for info in route:
                loaded = self._load(info)
                if isinstance(loaded, str):
                    reason = loaded
                    break
                models.append(loaded)
            if reason is not None:
                for key in misses:
                    for i in texts[key]:
                        results[i] = TranslationResult(None, UNAVAILABLE, reason, version)
                continue
            outputs = self._run_route(models, [t for t, _ in misses])
            fresh: list[tuple[str, str, str]] = []
            for (text, src), out in zip(misses, outputs):
                problem = sanity_problem(text, out)
                if problem is not None:
                    res = TranslationResult(
                        None, UNAVAILABLE, f"translation failed the sanity check: {problem}", version
                    )
                else:
                    res = TranslationResult(out, TRANSLATED, None, version)
                    fresh.append((_sha256(text), src, out))
                for i in texts[(text, src)]:
                    results[i] = res
            self._cache_put(fresh, version)
        return [r if r is not None else TranslationResult(None, UNAVAILABLE, "internal", None)
                for r in results]

    def _run_route(self, models: list[_Model], texts: list[str]) -> list[str]:
        """Split every text, translate all sentences through the chain in batches, rejoin."""
        layout: list[list[int]] = []  # per text: sentence count per paragraph (-1: blank)
        sentences: list[str] = []
        for text in texts:
            shape = []
            for para in text.split("\n"):
                parts = models[0].split(para) if para.strip() else []
                shape.append(len(parts))
                sentences.extend(parts)
            layout.append(shape)
        for model in models:
            sentences = model.translate(sentences, self.beam_size, self.batch_size)
        out: list[str] = []
        pos = 0
        for shape in layout:
            paras = []
            for count in shape:
                paras.append(" ".join(sentences[pos : pos + count]))
                pos += count
            out.append("\n".join(paras).strip())
        return out

    # ------------------------------------------------------------ cache
    def _cache_get(self, keys: list[tuple[str, str]], version: str) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        for sha, src in keys:
            row = self._conn.execute(
                "SELECT translated FROM translation_cache WHERE source_sha256=? AND"
                " source_lang=? AND target_lang=? AND model_version=?",
                (sha, src, self.target, version),
            ).fetchone()
            if row is not None:
                found[(sha, src)] = row[0]
        return found

    def _cache_put(self, rows: list[tuple[str, str, str]], version: str) -> None:
        if not rows:
            return
        now = time.time()
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO translation_cache VALUES (?, ?, ?, ?, ?, ?)",
                [(sha, src, self.target, version, out, now) for sha, src, out in rows],
            )
