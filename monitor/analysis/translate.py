"""Translation stage: offline machine translation with two kinds of model.

* Argos packages (one language pair each, argos_models) and
* multilingual CTranslate2 models in the NLLB-200 layout (multilingual_models): one model,
  loaded once, serves every language it knows; the source text is given as
  ``[source token] pieces </s>`` and the target token is forced as the decoder prefix.

Each source language is routed by a preference order (``translation.prefer``, default
argos -> multilingual -> pivot through English; ``translation.languages`` overrides it per
language). Texts are split into sentences (a MiniSBD model when one is installed for the
language, else a rule-based splitter; never a download), translated in batches across items
with CTranslate2, and joined back. Uzbek in Cyrillic script is transliterated to Latin first
when the model knows Uzbek only in Latin (NLLB's ``uzn_Latn``). Results are cached in SQLite by
(sha256 of the source text, source language, target language, model name@version), so nothing
is translated twice and a cache hit never touches a model.

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
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from monitor import ModelError
from monitor.analysis import argos_models
from monitor.analysis.argos_models import ModelInfo, list_models
from monitor.analysis.multilingual_models import MultilingualInfo, list_multilingual
from monitor.analysis.text import language_code, main_script, shorten, split_sentences
from monitor.analysis.translit import TRANSLITERATORS
from monitor.store import Store, open_store
from monitor.store.api import TranslationCache

# The outcome of one translation request. An item stores it as its translation_status, an
# unavailable one with the reason appended ("unavailable: no model kk->en").
TranslationOutcome = Literal["translated", "cached", "not_needed", "unavailable"]
TRANSLATED: Final = "translated"
CACHED: Final = "cached"
NOT_NEEDED: Final = "not_needed"
UNAVAILABLE: Final = "unavailable"

PIVOT = "en"
MAX_DECODING_LENGTH = 256

ARGOS = "argos"
MULTILINGUAL = "multilingual"
PIVOT_ROUTE = "pivot"
ROUTE_KINDS = (ARGOS, MULTILINGUAL, PIVOT_ROUTE)
DEFAULT_PREFER = (ARGOS, MULTILINGUAL, PIVOT_ROUTE)
# Languages written in more than one script: the code the models see names the script.
SCRIPT_AWARE = frozenset({"az", "uz", "tk"})
# The languages of the region, always reported by `monitor models list`.
REGION_LANGUAGES = ("kk", "uz", "uz-Cyrl", "tg", "hy", "ka", "be", "tk", "ky", "az", "ru", "uk", "tr")


@dataclass(frozen=True)
class TranslationResult:
    """The outcome for one (text, source language) request."""

    text: str | None  # translated text, None if not translated
    status: TranslationOutcome
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
    "hy": ("Փաշինյանը ժամանեց Մոսկվա։", ("moscow",)),
    "ky": ("Жапаров Москвага келди.", ("moscow",)),
    "be": ("Лукашэнка прыбыў у Маскву.", ("moscow",)),
    "az": ("Əliyev Moskvaya gəldi.", ("moscow",)),
}
# Which canary checks a multilingual model: the first language of this list it knows.
MULTILINGUAL_CHECK_ORDER = ("hy", "ky", "be", "az", "kk", "ru", "uk", "tr", "de", "fr")
GENERIC_CANARY = "Moscow, Astana, Tashkent 2024."

_WORD = re.compile(r"\w+", re.UNICODE)
_STUTTER = re.compile(r"([^\W\d_]{2,3})\1{2,}|([^\W\d_])\2{4,}", re.UNICODE)  # "ntntnt"
# A text with no match cannot hold two sentences (for scripts that mark sentence ends).
_MAYBE_SPLIT = re.compile(r"[.!?…؟।։][»\"'”’)\]]?\s|[。！？]\S", re.UNICODE)
_NO_FAST_PATH = {"th", "lo", "km", "my"}  # sentences end without punctuation


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


split_sentences_rule = split_sentences  # the rule-based splitter, used when a package ships no MiniSBD model


def normalize_lang(code: str | None) -> str | None:
    """ISO 639 code as Argos names it ("zh-TW" -> "zt", "pt-BR" -> "pt")."""
    if code and code.strip().lower().replace("_", "-") in ("zh-tw", "zh-hant", "zh-hk"):
        return "zt"
    return language_code(code)


def split_code(code: str | None) -> tuple[str | None, str | None]:
    """(language, script) of a code such as "uz-Cyrl" (script None when not given)."""
    lang = normalize_lang(code)
    if lang is None or not code:
        return lang, None
    parts = code.strip().replace("_", "-").split("-")
    script = parts[1].title() if len(parts) > 1 and len(parts[1]) == 4 and parts[1].isalpha() else None
    return lang, script


text_script = main_script  # its name here before the one copy moved to monitor.analysis.text


def source_code(language: str | None, script: str | None) -> str | None:
    """The code the stage routes on: "uz-Cyrl", "az-Arab", "tk-Latn" for languages written in
    several scripts, the bare ISO 639-1 code otherwise."""
    lang = normalize_lang(language)
    if lang in SCRIPT_AWARE and script:
        return f"{lang}-{script}"
    return lang


def cut_lead(text: str, limit: int) -> str:
    """At most ``limit`` characters of ``text``, cut after the last whole sentence that fits
    (a word boundary and "…" when even the first sentence is longer)."""
    return shorten(text, limit, at="sentence")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- routes


@dataclass(frozen=True)
class Step:
    """One model applied to one leg (source -> target) of a route."""

    kind: str  # ARGOS | MULTILINGUAL
    label: str  # model name@version: the cache key part
    source: str  # our code of the input ("uz-Cyrl", "kk", "en")
    target: str
    argos: ModelInfo | None = None
    multi: MultilingualInfo | None = None
    src_token: str | None = None  # multilingual: e.g. "kaz_Cyrl"
    tgt_token: str | None = None  # multilingual: e.g. "eng_Latn"
    transliterate: str | None = None  # "uz-Cyrl" when the text is transliterated first

    def describe(self) -> str:
        if self.kind == ARGOS:
            assert self.argos is not None
            return f"argos {self.argos.name} ({self.source}->{self.target})"
        extra = f", transliterated {self.transliterate}->Latn" if self.transliterate else ""
        return f"multilingual {self.label} ({self.src_token}->{self.tgt_token}{extra})"


@dataclass(frozen=True)
class Route:
    kind: str  # ARGOS | MULTILINGUAL | PIVOT_ROUTE
    steps: tuple[Step, ...]

    @property
    def label(self) -> str:
        return "+".join(s.label for s in self.steps)

    @property
    def test_model(self) -> bool:
        return any((s.argos.test_model if s.argos else s.multi.test_model if s.multi else False)
                   for s in self.steps)

    @property
    def license(self) -> str | None:
        found = [s.multi.license if s.multi else s.argos.license if s.argos else None for s in self.steps]
        return ", ".join(x for x in found if x) or None

    def describe(self) -> str:
        return " then ".join(s.describe() for s in self.steps)


# ---------------------------------------------------------------- engines


def _split_with(text: str, lang: str, sbd_path: Path | None, cache: dict[Path, Any]) -> list[str]:
    text = text.strip()
    if lang not in _NO_FAST_PATH and not _MAYBE_SPLIT.search(text):
        return [text] if text else []  # no candidate boundary: one sentence (most titles)
    if sbd_path is None:
        return split_sentences_rule(text)
    sbd = cache.get(sbd_path)
    if sbd is None:
        from minisbd import SBDetect

        sbd = cache[sbd_path] = SBDetect(str(sbd_path), use_gpu=False, max_threads=1)
    return [s.strip() for s in sbd.sentences(text) if s.strip()]


def _ct2_translate(translator: Any, tokens: list[list[str]], prefixes: list[list[str]] | None,
                   beam_size: int, batch_size: int) -> list[list[str]]:
    """Hypothesis tokens for each source, with the forced prefix tokens removed (before any
    decoding: a decoder turns "eng_Latn" into "eng Latn", which no later check recognises)."""
    results = translator.translate_batch(
        tokens,
        target_prefix=prefixes,
        max_batch_size=max(1, batch_size),
        batch_type="examples",
        beam_size=beam_size,
        num_hypotheses=1,
        length_penalty=0.2,
        replace_unknowns=True,
        max_decoding_length=MAX_DECODING_LENGTH,
    )
    out: list[list[str]] = []
    for i, r in enumerate(results):
        hyp = list(r.hypotheses[0])
        prefix = prefixes[i] if prefixes else []
        if prefix and hyp[: len(prefix)] == prefix:
            hyp = hyp[len(prefix):]
        out.append(hyp)
    return out


class _ArgosModel:
    """One loaded Argos package: CTranslate2 translator, tokenizer, sentence splitter."""

    kind = ARGOS

    def __init__(self, info: ModelInfo, models_dir: Path, threads: int, device: str = "cpu") -> None:
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
            str(info.path / "model"), device=device, inter_threads=1, intra_threads=threads,
            compute_type="auto",
        )
        onnx_files = sorted((info.path / "minisbd").glob("*.onnx"))
        self.sbd_path = onnx_files[0] if onnx_files else None

    def translate(self, sentences: Sequence[str], steps: Sequence[Step], beam_size: int,
                  batch_size: int) -> list[str]:
        """Translate sentences, at most ``batch_size`` per CTranslate2 batch (1 = one by one)."""
        if not sentences:
            return []
        tokens = [self.tokenizer.encode(s) for s in sentences]
        prefixes = [[self.target_prefix] for _ in tokens] if self.target_prefix else None
        hyps = _ct2_translate(self.translator, tokens, prefixes, beam_size, batch_size)
        return [self.tokenizer.decode(h).strip() for h in hyps]


class _MultilingualModel:
    """One loaded multilingual model (NLLB layout): SentencePiece + CTranslate2, every language."""

    kind = MULTILINGUAL

    def __init__(self, info: MultilingualInfo, threads: int, device: str = "cpu") -> None:
        import ctranslate2
        import sentencepiece

        self.info = info
        self.version = info.label
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(info.spm_path))
        self.translator = ctranslate2.Translator(
            str(info.path), device=device, inter_threads=1, intra_threads=threads, compute_type="auto",
        )

    def source_tokens(self, sentence: str, step: Step) -> list[str]:
        text = sentence
        if step.transliterate:
            lang, script = split_code(step.transliterate)
            text = TRANSLITERATORS[(lang or "", script or "")][1](text)
        pieces = list(self.sp.encode(text, out_type=str))
        if self.info.source_format == "pieces </s> [src]":
            return pieces + ["</s>", str(step.src_token)]
        return [str(step.src_token)] + pieces + ["</s>"]

    def translate(self, sentences: Sequence[str], steps: Sequence[Step], beam_size: int,
                  batch_size: int) -> list[str]:
        """One CTranslate2 call for all sentences, whatever their languages (the source token
        travels with each sentence)."""
        if not sentences:
            return []
        tokens = [self.source_tokens(s, st) for s, st in zip(sentences, steps)]
        prefixes = [[str(st.tgt_token)] for st in steps] if self.info.target_prefix else None
        hyps = _ct2_translate(self.translator, tokens, prefixes, beam_size, batch_size)
        return [self.sp.decode_pieces(h).strip() for h in hyps]


Engine = _ArgosModel | _MultilingualModel


def self_check(translate_one: Callable[[str], str], source_lang: str, target_lang: str,
               canary: tuple[str, tuple[str, ...]] | None = None) -> str | None:
    """Translate the canary sentence for ``source_lang``; the reason it failed, or None."""
    sentence, expected = canary or CANARIES.get(source_lang, (GENERIC_CANARY, ()))
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


def multilingual_step(info: MultilingualInfo, code: str, target: str) -> Step | str:
    """The step that sends ``code`` (e.g. "uz-Cyrl", "kk") through ``info``, or why it cannot."""
    lang, script = split_code(code)
    lang = lang or ""
    tgt = info.target_token(target)
    if tgt is None:
        return f"{info.name} does not translate into {target}"
    token = (info.source_token(f"{lang}-{script}") if script else None) or info.source_token(lang)
    if token is None:
        return f"{info.name} does not know {lang}"
    translit = None
    token_script = token.rsplit("_", 1)[1] if "_" in token else None
    if script and token_script and script != token_script:
        conv = TRANSLITERATORS.get((lang, script))
        if conv is None or conv[0] != token_script:
            return f"{info.name} knows {lang} only in {token_script} script, not {script}"
        translit = f"{lang}-{script}"
    return Step(MULTILINGUAL, info.label, code, target, multi=info, src_token=token, tgt_token=tgt,
                transliterate=translit)


def verify_argos(info: ModelInfo, threads: int = 1) -> str | None:
    """Load an Argos package (where it lies, e.g. still in the install's temporary folder) and run
    its self-check; the problem, or None if usable."""
    models_dir = info.path.parent
    if models_dir.name.startswith(".install-"):  # model_archive's temporary folder
        models_dir = models_dir.parent
    try:
        model = _ArgosModel(info, models_dir, threads)
    except Exception as exc:  # noqa: BLE001 - any load failure makes the package unusable
        return f"failed to load: {exc}"
    step = Step(ARGOS, f"{info.name}@{info.version}", info.from_code, info.to_code, argos=info)

    def one(sentence: str) -> str:
        parts = _split_with(sentence, info.from_code, model.sbd_path, {})
        return " ".join(model.translate(parts, [step] * len(parts), 1, 1))

    return self_check(one, info.from_code, info.to_code)


def verify_multilingual(info: MultilingualInfo, threads: int = 1) -> str | None:
    """Load a multilingual model and run its self-check; the problem, or None if usable."""
    try:
        model = _MultilingualModel(info, threads)
    except Exception as exc:  # noqa: BLE001 - any load failure makes the model unusable
        return f"failed to load: {exc}"
    return _check_multilingual(model, "en")


def _check_multilingual(model: _MultilingualModel, target: str) -> str | None:
    info = model.info
    known = dict(info.languages)
    if info.self_check is not None:
        lang, sentence, expected = info.self_check
        canary: tuple[str, tuple[str, ...]] | None = (sentence, expected)
    else:
        lang = next((c for c in MULTILINGUAL_CHECK_ORDER if c in known), next(iter(known), "en"))
        canary = None
    step = multilingual_step(info, lang, target)
    if isinstance(step, str):
        return f"self-check impossible: {step}"

    def one(sentence: str) -> str:
        return model.translate([sentence], [step], 1, 1)[0]

    return self_check(one, lang, target, canary)


def resolve_device(want: str) -> str:
    """The CTranslate2 device for ``translation.device``: "cpu" as is (nothing imported), "cuda" only
    when CTranslate2 sees a CUDA device (else ModelError saying so), "auto" cuda when it does."""
    if want == "cpu":
        return "cpu"
    if want not in ("cuda", "auto"):
        raise ModelError(f"translation.device: expected cpu, cuda or auto, got {want!r}")
    try:
        import ctranslate2

        count = int(ctranslate2.get_cuda_device_count())
    except Exception as exc:  # noqa: BLE001 - a CUDA runtime that cannot even be queried counts as none
        count, why = 0, f" ({exc})"
    else:
        why = ""
    if count > 0:
        return "cuda"
    if want == "auto":
        return "cpu"
    raise ModelError("translation.device is cuda, but CTranslate2 finds no CUDA device on this machine"
                     f"{why}: no NVIDIA GPU, no driver, or a CTranslate2 build without CUDA; use device: cpu, "
                     "or auto (cuda where there is one)")


class Translator:
    """The translation stage. Synchronous; the pipeline runs it via ``asyncio.to_thread``."""

    def __init__(
        self,
        cache: Path | TranslationCache | None,
        models_dir: Path,
        target: str = "en",
        threads: int = 1,
        *,
        beam_size: int = 1,
        batch_size: int = 64,
        prefer: Sequence[str] = DEFAULT_PREFER,
        languages: dict[str, Sequence[str]] | None = None,
        multilingual_model: str | None = None,
        device: str = "cpu",
    ) -> None:
        # the translation cache: the caller's store's (the daemon: no second connection), else a store
        # of our own on a database file, or in memory (None)
        self._own: Store | None = None
        if cache is None or isinstance(cache, (str, Path)):
            self._own = open_store(Path(cache) if cache is not None else None)
            cache = self._own.caches.translations
        self.cache: TranslationCache = cache
        self.models_dir = Path(models_dir)
        self.target = normalize_lang(target) or "en"
        self.threads = max(1, threads)
        self.beam_size = max(1, beam_size)
        self.batch_size = max(1, batch_size)
        self.prefer = tuple(prefer) or DEFAULT_PREFER
        self.languages = {k: tuple(v) for k, v in (languages or {}).items()}
        self.multilingual_model = multilingual_model
        self.device = resolve_device(device)  # "cpu" or "cuda"; ModelError when cuda is asked and absent
        self._lock = threading.RLock()
        self._models: dict[str, Engine] = {}  # by label
        self._broken: dict[str, str] = {}  # label -> reason
        self._sbd_cache: dict[Path, Any] = {}
        self.models_loaded = 0  # how many model loads happened (tests, bench)
        self._installed: dict[tuple[str, str], ModelInfo] = {}
        self._multi: list[MultilingualInfo] = []
        self._fingerprint: tuple[Any, ...] = ()
        self.refresh()

    @classmethod
    def from_settings(cls, cache: Path | TranslationCache | None, models_dir: Path, settings: Any,
                      **kw: Any) -> Translator:
        """A stage configured by ``config.TranslationSettings``."""
        return cls(cache, models_dir, target=settings.target, prefer=settings.prefer,
                   languages=dict(settings.languages), multilingual_model=settings.multilingual_model,
                   device=settings.device, **kw)

    # ------------------------------------------------------------ models
    def refresh(self) -> bool:
        """Re-read the installed models (after ``monitor models install``); True if they changed."""
        with self._lock:
            argos = {m.pair: m for m in list_models(self.models_dir)}
            multi = list_multilingual(self.models_dir)
            # a configured model first, then real models before test models, then by name
            multi.sort(key=lambda m: (m.name != self.multilingual_model, m.test_model, m.name))
            fingerprint = (tuple(sorted((k, v.name, v.version) for k, v in argos.items())),
                           tuple(m.label for m in multi))
            changed = fingerprint != self._fingerprint
            self._installed, self._multi, self._fingerprint = argos, multi, fingerprint
            return changed

    def close(self) -> None:
        with self._lock:
            if self._own is not None:
                self._own.close()
                self._own = None

    def __enter__(self) -> Translator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sbd_for(self, lang: str) -> Path | None:
        """A MiniSBD sentence model for ``lang`` from any installed Argos package."""
        for info in self._installed.values():
            p = info.path / "minisbd" / f"{lang}.onnx"
            if p.is_file():
                return p
        return None

    def split(self, text: str, code: str) -> list[str]:
        lang = normalize_lang(code) or ""
        return _split_with(text, lang, self._sbd_for(lang), self._sbd_cache)

    def _load(self, step: Step) -> Engine | str:
        """The loaded, self-checked model of a step, or the reason it is unusable."""
        label = step.label
        if label in self._models:
            return self._models[label]
        if label in self._broken:
            return self._broken[label]
        name = step.argos.name if step.argos else step.multi.name if step.multi else label
        model: Engine
        try:
            if step.kind == ARGOS:
                assert step.argos is not None
                model = _ArgosModel(step.argos, self.models_dir, self.threads, self.device)
            else:
                assert step.multi is not None
                model = _MultilingualModel(step.multi, self.threads, self.device)
        except Exception as exc:
            reason = f"model {name} failed to load: {exc}"
            self._broken[label] = reason
            return reason
        self.models_loaded += 1
        if isinstance(model, _ArgosModel):
            argos_model = model
            info = model.info

            def one(sentence: str) -> str:
                parts = _split_with(sentence, info.from_code, argos_model.sbd_path, self._sbd_cache)
                steps = [step] * len(parts)
                return " ".join(argos_model.translate(parts, steps, self.beam_size, 1))

            problem = self_check(one, info.from_code, info.to_code)
        else:
            problem = _check_multilingual(model, step.target)
        if problem is not None:
            reason = f"model {name} unusable: {problem}"
            self._broken[label] = reason
            return reason
        self._models[label] = model
        return model

    def _argos_step(self, source: str, target: str) -> Step | None:
        lang = normalize_lang(source) or source
        info = self._installed.get((lang, target))
        if info is None:
            return None
        return Step(ARGOS, f"{info.name}@{info.version}", source, target, argos=info)

    def _multi_step(self, source: str, target: str, notes: list[str]) -> Step | None:
        for info in self._multi:
            step = multilingual_step(info, source, target)
            if isinstance(step, Step):
                return step
            notes.append(step)
        return None

    def _leg(self, source: str, target: str, kinds: Sequence[str], notes: list[str]) -> Step | None:
        for kind in kinds:
            step = self._argos_step(source, target) if kind == ARGOS else \
                self._multi_step(source, target, notes) if kind == MULTILINGUAL else None
            if step is not None:
                return step
        return None

    def route_for(self, code: str) -> Route | str:
        """How texts in ``code`` ("kk", "uz-Cyrl") reach the target, or why they cannot."""
        with self._lock:
            return self._route(code)

    def _route(self, source: str) -> Route | str:
        lang = normalize_lang(source) or source
        order = self.languages.get(source) or self.languages.get(lang) or self.prefer
        notes: list[str] = []
        direct_kinds = [k for k in order if k != PIVOT_ROUTE]
        for kind in order:
            if kind == PIVOT_ROUTE:
                if lang == PIVOT or self.target == PIVOT:
                    continue
                first = self._leg(source, PIVOT, direct_kinds or (ARGOS, MULTILINGUAL), notes)
                second = self._leg(PIVOT, self.target, direct_kinds or (ARGOS, MULTILINGUAL), notes)
                if first and second:
                    return Route(PIVOT_ROUTE, (first, second))
                continue
            step = self._leg(source, self.target, (kind,), notes)
            if step is not None:
                return Route(kind, (step,))
        reason = f"no model {lang}->{self.target}"
        if order != self.prefer:
            notes.append(f"translation.languages.{lang} allows only {', '.join(order)}")
        unique = list(dict.fromkeys(notes))
        return reason + (f" ({'; '.join(unique)})" if unique else "")

    @staticmethod
    def _version(route: Route) -> str:
        return route.label

    def pairs(self) -> dict[tuple[str, str], str | None]:
        """Installed Argos pairs -> None if usable, or the reason unusable (loads and self-checks)."""
        with self._lock:
            self.refresh()
            out: dict[tuple[str, str], str | None] = {}
            for pair, info in sorted(self._installed.items()):
                step = Step(ARGOS, f"{info.name}@{info.version}", pair[0], pair[1], argos=info)
                loaded = self._load(step)
                out[pair] = loaded if isinstance(loaded, str) else None
            return out

    def multilingual_status(self) -> dict[str, str | None]:
        """Installed multilingual models (label) -> None if usable, or the reason (loads them)."""
        with self._lock:
            self.refresh()
            out: dict[str, str | None] = {}
            for info in self._multi:
                lang = next((c for c, _ in info.languages), "en")
                step = multilingual_step(info, lang, self.target)
                if isinstance(step, str):
                    out[info.label] = step
                    continue
                loaded = self._load(step)
                out[info.label] = loaded if isinstance(loaded, str) else None
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
        lang, script = split_code(source)
        with self._lock:
            route = self._route(source_code(lang, script) or src)
            if isinstance(route, str):
                return route
            for step in route.steps:
                if not load:
                    if step.label in self._broken:
                        return self._broken[step.label]
                    continue
                loaded = self._load(step)
                if isinstance(loaded, str):
                    return loaded
            return None

    # ------------------------------------------------------------ translation
    def translate_many(self, requests: list[tuple[str, str]]) -> list[TranslationResult]:
        """Translate (text, source code) pairs to the target; one result per request.

        The code is ISO 639-1 ("kk"), optionally with the script ("uz-Cyrl"); for languages
        written in several scripts (az, uz, tk) the script is read from the text when not given."""
        with self._lock:
            return self._translate_many(requests)

    def _translate_many(self, requests: list[tuple[str, str]]) -> list[TranslationResult]:
        results: list[TranslationResult | None] = [None] * len(requests)
        routes: dict[str, Route | str] = {}
        # route label -> {(text, code): (route, [request indexes])}
        todo: dict[str, dict[tuple[str, str], tuple[Route, list[int]]]] = {}
        for i, (text, source) in enumerate(requests):
            lang, script = split_code(source)
            if text is None or not text.strip():
                results[i] = TranslationResult(None, NOT_NEEDED, None, None)
                continue
            if lang is None:
                results[i] = TranslationResult(None, UNAVAILABLE, "source language unknown", None)
                continue
            if lang == self.target:
                results[i] = TranslationResult(None, NOT_NEEDED, None, None)
                continue
            if lang in SCRIPT_AWARE and script is None:
                script = text_script(text)
            code = source_code(lang, script) or lang
            if code not in routes:
                routes[code] = self._route(code)
            route = routes[code]
            if isinstance(route, str):
                results[i] = TranslationResult(None, UNAVAILABLE, route, None)
                continue
            group = todo.setdefault(route.label, {})
            group.setdefault((text, code), (route, []))[1].append(i)

        for version, texts in todo.items():
            keys = list(texts)
            cached = self._cache_get([(_sha256(t), s) for t, s in keys], version)
            misses = []
            for key in keys:
                hit = cached.get((_sha256(key[0]), key[1]))
                if hit is not None:
                    for i in texts[key][1]:
                        results[i] = TranslationResult(hit, CACHED, None, version)
                else:
                    misses.append(key)
            if not misses:
                continue
            route0 = texts[misses[0]][0]
            models: list[Engine] = []
            reason = None
            for step in route0.steps:
                loaded = self._load(step)
                if isinstance(loaded, str):
                    reason = loaded
                    break
                models.append(loaded)
            if reason is not None:
                for key in misses:
                    for i in texts[key][1]:
                        results[i] = TranslationResult(None, UNAVAILABLE, reason, version)
                continue
            outputs = self._run_route(models, [(t, texts[(t, c)][0]) for t, c in misses])
            fresh: list[tuple[str, str, str]] = []
            for (text, code), out in zip(misses, outputs):
                problem = sanity_problem(text, out)
                if problem is not None:
                    res = TranslationResult(
                        None, UNAVAILABLE, f"translation failed the sanity check: {problem}", version
                    )
                else:
                    res = TranslationResult(out, TRANSLATED, None, version)
                    fresh.append((_sha256(text), code, out))
                for i in texts[(text, code)][1]:
                    results[i] = res
            self._cache_put(fresh, version)
        return [r if r is not None else TranslationResult(None, UNAVAILABLE, "internal", None)
                for r in results]

    def _run_route(self, models: list[Engine], texts: list[tuple[str, Route]]) -> list[str]:
        """Split every text, translate all sentences through the chain in batches, rejoin."""
        layout: list[list[int]] = []  # per text: sentence count per paragraph
        sentences: list[str] = []
        owners: list[Route] = []  # the route of each sentence (its steps carry the tokens)
        for text, route in texts:
            shape = []
            first = route.steps[0]
            sbd = models[0].sbd_path if isinstance(models[0], _ArgosModel) else \
                self._sbd_for(normalize_lang(first.source) or "")
            for para in text.split("\n"):
                parts = _split_with(para, normalize_lang(first.source) or "", sbd, self._sbd_cache) \
                    if para.strip() else []
                shape.append(len(parts))
                sentences.extend(parts)
                owners.extend([route] * len(parts))
            layout.append(shape)
        for level, model in enumerate(models):
            steps = [r.steps[level] for r in owners]
            sentences = model.translate(sentences, steps, self.beam_size, self.batch_size)
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
        return self.cache.get_many(keys, self.target, version)

    def _cache_put(self, rows: list[tuple[str, str, str]], version: str) -> None:
        self.cache.put_many(rows, self.target, version, time.time())


def install_hint(code: str, target: str) -> str:
    """How to get a model for ``code`` (for messages)."""
    from monitor.analysis.argos_models import ARGOS_INDEX_PAIRS

    lang = normalize_lang(code) or code
    if (lang, target) in ARGOS_INDEX_PAIRS:
        return f"monitor models install {lang} {target}"
    return "a multilingual model: monitor models install --multilingual DIR (README 'Translation')"


def coverage_warnings(cfg: Any) -> list[str]:
    """One line per configured source language no installed model serves (`monitor check`)."""
    tr = cfg.translation
    if not tr.enabled:
        return []
    wanted: dict[str, str] = {}
    for src, _dst in tr.pairs:
        wanted.setdefault(src, "translation.pairs")
    for code, _kinds in tr.languages:
        wanted.setdefault(code, f"translation.languages.{code}")
    for f in cfg.feeds:
        if f.language and f.enabled:
            wanted.setdefault(f.language, f"feed {f.name!r}" + (f" (line {f.line})" if f.line else ""))
    target = normalize_lang(tr.target) or "en"
    out = []
    with Translator.from_settings(None, cfg.models, tr) as t:
        for code, where in wanted.items():
            if (normalize_lang(code) or code) == target:
                continue
            route = t.route_for(code)
            if isinstance(route, str):
                out.append(f"warning: {code} ({where}) has no installed model: {route}; items in {code} stay "
                           f"untranslated. Install: {install_hint(code, target)}")
    return out
