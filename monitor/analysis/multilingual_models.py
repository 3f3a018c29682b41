"""Multilingual CTranslate2 models (NLLB-200 layout): list, describe and install.

A multilingual model is one CTranslate2 folder serving every language it knows: the files
``ct2-transformers-converter`` writes (``model.bin``, ``config.json``, ``shared_vocabulary.*``),
the SentencePiece model (``sentencepiece.bpe.model``) and a ``manifest.json`` that says how to
talk to it::

    {"kind": "multilingual", "family": "nllb", "name": "...", "version": "...",
     "license": "cc-by-nc-4.0", "test_model": false,
     "languages": {"kk": "kaz_Cyrl", "uz": "uzn_Latn", ...},     # our code -> source token
     "target_languages": {"en": "eng_Latn"},
     "source_format": "[src] pieces </s>", "target_prefix": true}

A folder converted by the user has no manifest: ``install`` writes one, taking the languages
from the model's own vocabulary (which of the NLLB-200 or M2M-100 language tokens it has).
Installed models live in ``<models>/multilingual/<name>``. Nothing here downloads anything.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor import ModelError
from monitor.analysis.argos_models import _LOCK
from monitor.analysis.model_archive import ArchiveError, free_name, unpacked

SUBDIR = "multilingual"
MANIFEST = "manifest.json"
SPM_NAMES = ("sentencepiece.bpe.model", "sentencepiece.model", "spm.model")
SOURCE_FORMATS = ("[src] pieces </s>", "pieces </s> [src]")

# Our codes (ISO 639-1, with a script where a language is written in several) -> NLLB-200 tokens
# (FAIRSEQ_LANGUAGE_CODES of the NLLB tokenizer). The region first, then common news languages.
NLLB_CODES: dict[str, str] = {
    "kk": "kaz_Cyrl", "uz": "uzn_Latn", "tg": "tgk_Cyrl", "hy": "hye_Armn", "ka": "kat_Geor",
    "be": "bel_Cyrl", "tk": "tuk_Latn", "ky": "kir_Cyrl", "az": "azj_Latn", "az-Arab": "azb_Arab",
    "ru": "rus_Cyrl", "uk": "ukr_Cyrl", "tr": "tur_Latn", "mn": "khk_Cyrl", "fa": "pes_Arab",
    "ps": "pbt_Arab", "ur": "urd_Arab", "ar": "arb_Arab", "zh": "zho_Hans", "zt": "zho_Hant",
    "en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "es": "spa_Latn", "it": "ita_Latn",
    "pt": "por_Latn", "pl": "pol_Latn", "nl": "nld_Latn", "cs": "ces_Latn", "ro": "ron_Latn",
    "bg": "bul_Cyrl", "sr": "srp_Cyrl", "mk": "mkd_Cyrl", "el": "ell_Grek", "he": "heb_Hebr",
    "hi": "hin_Deva", "ja": "jpn_Jpan", "ko": "kor_Hang", "tt": "tat_Cyrl", "ba": "bak_Cyrl",
}
# M2M-100 writes its language tokens as __kk__ (no tg, tk, ky).
M2M_LANGS = ("kk", "uz", "hy", "ka", "be", "az", "ru", "uk", "tr", "mn", "fa", "ps", "ur", "ar", "zh",
             "en", "de", "fr", "es", "it", "pt", "pl", "nl", "cs", "ro", "bg", "sr", "mk", "el", "he",
             "hi", "ja", "ko", "ba")
KNOWN_LICENSES = {"nllb": "cc-by-nc-4.0", "m2m100": "mit"}
NON_COMMERCIAL = ("-nc",)
LICENSE_TEXT = {
    "cc-by-nc-4.0": (
        "Creative Commons Attribution-NonCommercial 4.0 International "
        "(https://creativecommons.org/licenses/by-nc/4.0/legalcode): you may use, share and adapt "
        "the model only for purposes not primarily intended for or directed towards commercial "
        "advantage or monetary compensation, giving credit to its authors (for NLLB-200: Meta AI, "
        "NLLB Team) and a link to the licence. Use inside a for-profit organisation is likely not "
        "covered; ask the licensor."
    ),
}


@dataclass(frozen=True)
class MultilingualInfo:
    """One installed multilingual model."""

    name: str
    version: str
    family: str  # "nllb" | "m2m100"
    license: str | None
    test_model: bool
    languages: tuple[tuple[str, str], ...]  # (our code, model token), e.g. ("kk", "kaz_Cyrl")
    target_languages: tuple[tuple[str, str], ...]
    source_format: str
    target_prefix: bool
    path: Path
    size_bytes: int
    self_check: tuple[str, str, tuple[str, ...]] | None = None  # (lang, sentence, expected words)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def spm_path(self) -> Path:
        for n in SPM_NAMES:
            if (self.path / n).is_file():
                return self.path / n
        return self.path / SPM_NAMES[0]

    def source_token(self, code: str) -> str | None:
        return dict(self.languages).get(code)

    def target_token(self, code: str) -> str | None:
        return dict(self.target_languages).get(code)

    @property
    def non_commercial(self) -> bool:
        return is_non_commercial(self.license)


def is_non_commercial(licence: str | None) -> bool:
    return bool(licence) and any(tag in str(licence).lower() for tag in NON_COMMERCIAL)


def _vocabulary(folder: Path) -> set[str]:
    for name in ("shared_vocabulary.json", "source_vocabulary.json"):
        p = folder / name
        if p.is_file():
            data = json.loads(p.read_text(encoding="utf-8"))
            return {str(t) for t in data}
    for name in ("shared_vocabulary.txt", "source_vocabulary.txt"):
        p = folder / name
        if p.is_file():
            return {line.rstrip("\n") for line in p.read_text(encoding="utf-8").splitlines()}
    return set()


def _pairs(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not value:
        raise ModelError(f"{where}: expected a mapping of language codes to model tokens")
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def _text(value: Any) -> str:
    """A manifest string as one printable line (it is shown in terminals and logs)."""
    from monitor.delivery.render import clean_line

    return clean_line(value)


def _parse_manifest(folder: Path, data: Any) -> MultilingualInfo:
    where = str(folder / MANIFEST)
    if not isinstance(data, dict) or data.get("kind", "multilingual") != "multilingual":
        raise ModelError(f"{where}: not a multilingual model manifest (kind must be 'multilingual')")
    family = str(data.get("family", "nllb"))
    fmt = str(data.get("source_format", SOURCE_FORMATS[0]))
    if fmt not in SOURCE_FORMATS:
        raise ModelError(f"{where}: source_format must be one of {', '.join(SOURCE_FORMATS)}, got {fmt!r}")
    check = data.get("self_check")
    self_check = None
    if isinstance(check, dict) and check.get("text") and check.get("language"):
        self_check = (str(check["language"]), str(check["text"]),
                      tuple(str(w).lower() for w in check.get("expect") or ()))
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    name = _text(data.get("name") or folder.name)
    return MultilingualInfo(
        name=name, version=_text(data.get("version") or "0"), family=_text(family),
        license=_text(data["license"]) if data.get("license") else None,
        test_model=bool(data.get("test_model")),
        languages=_pairs(data.get("languages"), f"{where}: languages"),
        target_languages=_pairs(data.get("target_languages") or {"en": NLLB_CODES["en"]},
                                f"{where}: target_languages"),
        source_format=fmt, target_prefix=bool(data.get("target_prefix", True)), path=folder,
        size_bytes=size, self_check=self_check,
    )


def read_model(folder: Path) -> MultilingualInfo | None:
    """The model in ``folder`` described by its manifest.json; None if it has none."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        return _parse_manifest(folder, data)
    except ModelError:
        return None


def list_multilingual(models_dir: Path) -> list[MultilingualInfo]:
    """Installed multilingual models (reads manifests only)."""
    base = Path(models_dir) / SUBDIR
    if not base.is_dir():
        return []
    found = [read_model(p) for p in sorted(base.iterdir())
             if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    return [m for m in found if m is not None]


def describe(folder: Path, *, name: str | None = None, version: str | None = None,
             licence: str | None = None) -> dict[str, Any]:
    """The manifest for a model folder: its own manifest.json completed by the arguments, or one
    built from the vocabulary of a folder straight out of ``ct2-transformers-converter``."""
    for required in ("model.bin", "config.json"):
        if not (folder / required).is_file():
            raise ModelError(f"{folder.name}: no {required}: not a CTranslate2 model folder "
                             "(convert the model first, see README 'Translation')")
    if not any((folder / n).is_file() for n in SPM_NAMES):
        raise ModelError(f"{folder.name}: no SentencePiece model ({' or '.join(SPM_NAMES)}); convert with "
                         "--copy_files sentencepiece.bpe.model")
    manifest: dict[str, Any] = {}
    if (folder / MANIFEST).is_file():
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelError(f"{folder.name}/{MANIFEST}: not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict):
            raise ModelError(f"{folder.name}/{MANIFEST}: expected a JSON object")
    else:
        vocab = _vocabulary(folder)
        nllb = {k: v for k, v in NLLB_CODES.items() if v in vocab}
        m2m = {k: f"__{k}__" for k in M2M_LANGS if f"__{k}__" in vocab}
        if len(nllb) >= len(m2m) and nllb:
            family, langs = "nllb", nllb
        elif m2m:
            family, langs = "m2m100", m2m
        else:
            raise ModelError(f"{folder.name}: the vocabulary has no NLLB-200 (kaz_Cyrl...) or M2M-100 "
                             "(__kk__...) language tokens; write a manifest.json (see README)")
        target = {k: v for k, v in langs.items() if k == "en"}
        if not target:
            raise ModelError(f"{folder.name}: the model has no English target token")
        manifest = {"kind": "multilingual", "family": family, "languages": langs,
                    "target_languages": target, "source_format": SOURCE_FORMATS[0], "target_prefix": True}
    manifest.setdefault("kind", "multilingual")
    if name:
        manifest["name"] = name
    if version:
        manifest["version"] = version
    if licence:
        manifest["license"] = licence.lower()
    manifest.setdefault("name", folder.name)
    manifest.setdefault("version", "1")
    for key in ("name", "version", "license", "family"):
        if manifest.get(key) is not None:
            manifest[key] = _text(manifest[key])
    if not manifest.get("license"):
        known = KNOWN_LICENSES.get(str(manifest.get("family", "nllb")))
        if known is None:
            raise ModelError(f"{folder.name}: say which licence the weights are under: --license ID")
        manifest["license"] = known
    return manifest


def install_multilingual(
    source: Path, models_dir: Path, *, accept_license: str | None = None, name: str | None = None,
    version: str | None = None, licence: str | None = None,
    verify: Callable[[MultilingualInfo], str | None] | None = None,
) -> MultilingualInfo:
    """Install a converted model folder or an archive of one (zip or tar, one top folder).

    Unpacked into a fresh temporary folder, described (manifest), self-checked with ``verify``
    while still there, then moved to ``<models>/multilingual/<name>`` (``-2``... if taken).
    Only then is an older install of the same name removed. A non-commercial licence must be
    acknowledged with ``accept_license`` equal to its identifier."""
    models_dir = Path(models_dir).resolve()
    base = models_dir / SUBDIR
    base.mkdir(parents=True, exist_ok=True)
    try:
        with unpacked(Path(source), base) as folder:
            manifest = describe(folder, name=name, version=version, licence=licence)
            lic = str(manifest["license"]).lower()
            if is_non_commercial(lic) and (accept_license or "").lower() != lic:
                raise ModelError(
                    f"{manifest['name']} is licensed {lic}: {LICENSE_TEXT.get(lic, 'a non-commercial licence')} "
                    f"Re-run with --accept-license {lic} to acknowledge it."
                )
            (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            info = _parse_manifest(folder, manifest)
            if verify is not None:
                problem = verify(info)
                if problem is not None:
                    raise ModelError(f"{info.name}: not installed: {problem}")
            with _LOCK:
                previous = [m for m in list_multilingual(models_dir) if m.name == info.name]
                dest = free_name(base, info.name)
                record = {"source": str(source), "installed_at": time.time(),
                          "license_accepted": accept_license.lower() if accept_license else None}
                (folder / "news-monitor.json").write_text(json.dumps(record), encoding="utf-8")
                os.rename(folder, dest)
                for old in previous:
                    shutil.rmtree(old.path, ignore_errors=True)
    except ArchiveError as exc:
        raise ModelError(str(exc)) from exc
    installed = read_model(dest)
    assert installed is not None
    return installed


def bundled_multilingual() -> list[Path]:
    """The multilingual test model shipped with news-monitor (a folder), if present."""
    from monitor.analysis.argos_models import BUNDLED_DIR

    return sorted(p for p in BUNDLED_DIR.iterdir() if p.is_dir() and (p / MANIFEST).is_file()) \
        if BUNDLED_DIR.is_dir() else []
