"""Argos Translate model management: list, install from a file, install from the package index.

Models live in a directory the caller passes (the service's state dir, never ``~``).

argostranslate reads its directories and thread settings from environment variables once, when
``argostranslate.settings`` is first imported, and keeps them in module globals. This module
sets those variables just before that first import (so nothing is created under ``~``) and,
under a lock, points the globals at the models dir given to each call. One process therefore
works with one models dir at a time; the service uses exactly one (``<state>/models``).

Only ``argostranslate.package``/``settings`` are imported, by the translation stage (no torch);
installing needs no Argos code at all (see model_archive for the safe unpacking).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

from monitor import ModelError
from monitor.analysis.model_archive import ArchiveError, free_name, unpacked

DEFAULT_INDEX_URL = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/"
BUNDLED_DIR = Path(__file__).resolve().parent / "data" / "models"
DOWNLOAD_TIMEOUT_S = 900.0  # the whole install from the index: index.json and the package
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0  # no byte for this long: the download stalled
MAX_INDEX_BYTES = 20_000_000

# To-English and from-English pairs the Argos index offers for the region (its index.json, checked
# for issue 16): ru, uk, tr, az, ky -> en. No kk, uz, tg, hy, ka, be or tk package exists.
ARGOS_INDEX_PAIRS = frozenset({("ru", "en"), ("uk", "en"), ("tr", "en"), ("az", "en"), ("ky", "en"),
                               ("en", "ru"), ("en", "uk"), ("en", "tr"), ("en", "az")})

_LOCK = threading.RLock()


@dataclass(frozen=True)
class ModelInfo:
    """One installed Argos package."""

    from_code: str
    to_code: str
    version: str
    size_bytes: int
    path: Path
    name: str  # the package's folder name, e.g. translate-ru_en-1_0
    test_model: bool = False  # one of the toy packages shipped for tests and the demo
    license: str | None = None

    @property
    def pair(self) -> tuple[str, str]:
        return (self.from_code, self.to_code)


def argos_dirs(models_dir: Path) -> dict[str, Path]:
    """Where Argos keeps its index, downloads and settings for one models dir."""
    base = Path(models_dir).resolve().parent / "argos"
    return {"data": base / "data", "cache": base / "cache", "config": base / "config"}


def _settings(models_dir: Path, index_url: str | None = None) -> ModuleType:
    """Import ``argostranslate.settings`` configured for ``models_dir`` (caller holds _LOCK)."""
    models_dir = Path(models_dir).resolve()
    models_dir.mkdir(parents=True, exist_ok=True)
    dirs = argos_dirs(models_dir)
    if "argostranslate.settings" not in sys.modules:
        env = {
            "ARGOS_PACKAGES_DIR": str(models_dir),
            "XDG_DATA_HOME": str(dirs["data"]),
            "XDG_CACHE_HOME": str(dirs["cache"]),
            "XDG_CONFIG_HOME": str(dirs["config"]),
            "ARGOS_DEVICE_TYPE": "cpu",
            "ARGOS_INTRA_THREADS": "1",
            "ARGOS_INTER_THREADS": "1",
            "ARGOS_CHUNK_TYPE": "ARGOSTRANSLATE",
        }
        saved = {k: os.environ.get(k) for k in env}
        # ARGOS_* stay set (Argos reads some lazily); XDG_* are restored after the import.
        os.environ.update(env)
        try:
            import argostranslate.settings  # noqa: F401
        finally:
            for key in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
                if saved[key] is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = saved[key]  # type: ignore[assignment]
    import argostranslate.settings as settings

    data_dir = dirs["data"] / "argos-translate"
    cache_dir = dirs["cache"] / "argos-translate"
    for d in (data_dir, cache_dir / "downloads", dirs["config"] / "argos-translate"):
        d.mkdir(parents=True, exist_ok=True)
    settings.data_dir = data_dir
    settings.cache_dir = cache_dir
    settings.downloads_dir = cache_dir / "downloads"
    settings.config_dir = dirs["config"] / "argos-translate"
    settings.settings_file = settings.config_dir / "settings.json"
    settings.package_data_dir = models_dir
    settings.package_dirs = [models_dir]
    settings.local_package_index = data_dir / "index.json"
    url = index_url or settings.package_index or DEFAULT_INDEX_URL
    if not url.endswith("/"):
        url += "/"
    settings.package_index = url
    settings.remote_package_index = url + "index.json"
    return settings


SIDECAR = "news-monitor.json"  # what the install recorded: source, sha256, licence, test model


def _sidecar(pkg_dir: Path) -> dict[str, object]:
    try:
        data = json.loads((pkg_dir / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_info(pkg_dir: Path) -> ModelInfo | None:
    meta_path = pkg_dir / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    if meta.get("type", "translate") != "translate" or not meta.get("from_code"):
        return None
    size = sum(p.stat().st_size for p in pkg_dir.rglob("*") if p.is_file())
    side = _sidecar(pkg_dir)
    licence = side.get("license") or meta.get("license")
    return ModelInfo(
        from_code=str(meta["from_code"]),
        to_code=str(meta.get("to_code", "")),
        version=str(meta.get("package_version", "")),
        size_bytes=size,
        path=pkg_dir,
        name=pkg_dir.name,
        test_model=bool(side.get("test_model") or meta.get("test_model")),
        license=str(licence) if licence else None,
    )


def list_models(models_dir: Path) -> list[ModelInfo]:
    """Installed translation packages in ``models_dir`` (reads metadata.json only)."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    found = [_read_info(p) for p in sorted(models_dir.iterdir())
             if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    return [m for m in found if m is not None]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _bundled_hashes() -> frozenset[str]:
    return frozenset(sha256_file(p) for p in bundled_models())


def is_bundled_test_model(path: Path) -> bool:
    """Whether ``path`` is (a copy of) one of the toy packages shipped for tests and the demo."""
    path = Path(path)
    return path.is_file() and sha256_file(path) in _bundled_hashes()


def install_from_file(path: Path, models_dir: Path,
                      verify: Callable[[ModelInfo], str | None] | None = None) -> ModelInfo:
    """Install an ``.argosmodel`` (a zip with one top folder holding metadata.json and model/).

    The archive is unpacked into a fresh temporary folder, validated (see model_archive) and,
    with ``verify`` (e.g. translate.verify_argos: load and self-check), checked while still
    there; then it is moved to ``translate-FROM_TO-VERSION`` (``-2``, ``-3``... if that name is
    taken), so a package never unpacks over an installed model. Only then are older packages of
    the same language pair removed. A failed install leaves the models dir as it was. The models
    lock (which model loading takes) is held only for the final move."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not an Argos model (must be a zip archive)")
    models_dir = Path(models_dir).resolve()
    test_model = is_bundled_test_model(path)
    digest = sha256_file(path)
    try:
        with unpacked(path, models_dir) as folder:
            if not (folder / "metadata.json").is_file():
                raise ModelError(f"{path}: no {folder.name}/metadata.json in the archive")
            info = _read_info(folder)
            if info is None:
                raise ModelError(f"{path}: not a translation package (metadata.json unusable)")
            if not (folder / "model" / "model.bin").is_file():
                raise ModelError(f"{path}: no {folder.name}/model/model.bin in the archive")
            if verify is not None:
                problem = verify(info)
                if problem is not None:
                    raise ModelError(f"{path}: not installed: {problem}")
            side = {"source": path.name, "sha256": digest, "test_model": test_model,
                    "installed_at": time.time()}
            (folder / SIDECAR).write_text(json.dumps(side), encoding="utf-8")
            with _LOCK:
                dest = free_name(models_dir, f"translate-{info.from_code}_{info.to_code}-"
                                             f"{info.version.replace('.', '_')}")
                os.rename(folder, dest)
                installed = _read_info(dest)
                assert installed is not None
                for other in list_models(models_dir):
                    if other.pair == installed.pair and other.path != installed.path:
                        shutil.rmtree(other.path, ignore_errors=True)
                _clear_argos_caches()
    except ArchiveError as exc:
        raise ModelError(str(exc)) from exc
    return installed


def _clear_argos_caches() -> None:
    mod = sys.modules.get("argostranslate.translate")
    if mod is not None:
        mod.get_installed_languages.cache_clear()
        mod.installed_translates.clear()


def _network_error(url: str, exc: BaseException) -> ModelError:
    reason = getattr(exc, "reason", exc)
    return ModelError(
        f"cannot reach the Argos package index at {url} ({reason}): this machine has no "
        "network access to it. Install offline instead: download the .argosmodel on a machine "
        "with internet access and run `monitor models install --file FILE.argosmodel`.",
        kind="offline",
    )


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self, url: str) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise ModelError(f"download from {url} did not finish within {self.seconds:g} s "
                             "(translation.download_timeout); nothing was installed")
        return left


def _download(url: str, deadline: _Deadline, out: BinaryIO | None = None) -> bytes:
    """GET ``url`` (redirects followed) within the deadline; into ``out`` or returned."""
    import httpx

    left = deadline.left(url)
    per_read = min(READ_TIMEOUT_S, left)
    buf = bytearray()
    try:
        with httpx.stream("GET", url, follow_redirects=True,
                          timeout=httpx.Timeout(per_read, connect=min(CONNECT_TIMEOUT_S, left))) as resp:
            if resp.status_code != 200:
                raise _network_error(url, OSError(f"HTTP {resp.status_code}"))
            for chunk in resp.iter_bytes():
                deadline.left(url)
                if out is None:
                    buf += chunk
                    if len(buf) > MAX_INDEX_BYTES:
                        raise ModelError(f"{url}: more than {MAX_INDEX_BYTES} bytes")
                else:
                    out.write(chunk)
    except httpx.TimeoutException as exc:
        deadline.left(url)
        raise ModelError(f"download from {url} stalled (no data for {per_read:g} s); nothing was "
                         "installed") from exc
    except httpx.HTTPError as exc:
        raise _network_error(url, exc) from exc
    return bytes(buf)


def install_from_index(
    from_code: str, to_code: str, models_dir: Path, index_url: str | None = None,
    *, timeout: float = DOWNLOAD_TIMEOUT_S, verify: Callable[[ModelInfo], str | None] | None = None,
) -> ModelInfo:
    """Download and install the package for one pair from the Argos package index.

    ``index_url`` is the index's base URL (``index.json`` is appended); default:
    ``$ARGOS_PACKAGE_INDEX`` or Argos's own index. The whole operation (index and package)
    must finish within ``timeout`` seconds. No lock is held while downloading (model loading
    takes the same lock), only for the final move into place.
    Raises ModelError naming the missing network when the index or download is unreachable."""
    deadline = _Deadline(timeout)
    base = index_url or os.environ.get("ARGOS_PACKAGE_INDEX") or DEFAULT_INDEX_URL
    if not base.endswith("/"):
        base += "/"
    url = base + "index.json"
    try:
        data = _download(url, deadline)
        index = json.loads(data)
    except ValueError as exc:
        raise ModelError(f"package index at {url} is not valid JSON: {exc}") from exc
    if not isinstance(index, list):
        raise ModelError(f"package index at {url} is not a list of packages")
    entries = [p for p in index if isinstance(p, dict) and p.get("type", "translate") == "translate"]
    match = [p for p in entries if p.get("from_code") == from_code and p.get("to_code") == to_code]
    if not match:
        pairs = sorted({f"{p.get('from_code')}->{p.get('to_code')}" for p in entries if p.get("from_code")})
        raise ModelError(
            f"the package index at {url} has no {from_code}->{to_code} model"
            + (f" (it has: {', '.join(pairs)})" if pairs else "")
        )
    best = max(match, key=lambda p: _version_key(str(p.get("package_version", ""))))
    links = [str(x) for x in best.get("links") or [] if isinstance(x, str)]
    if not links:
        raise ModelError(f"the package index at {url} lists no download for {from_code}->{to_code}")
    downloads = argos_dirs(models_dir)["cache"] / "argos-translate" / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{from_code}_{to_code}-", suffix=".argosmodel", dir=downloads)
    tmp = Path(tmp_name)
    try:
        errors = []
        for link in links:
            try:
                with os.fdopen(os.dup(fd), "wb") as out:
                    out.seek(0)
                    out.truncate()
                    _download(link, deadline, out)
                break
            except ModelError as exc:
                if "did not finish" in str(exc):
                    raise
                errors.append(exc)
        else:
            raise errors[-1]
        return install_from_file(tmp, models_dir, verify)
    finally:
        os.close(fd)
        tmp.unlink(missing_ok=True)


def _version_key(version: str) -> tuple[int, ...]:
    parts = []
    for part in str(version).split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def bundled_models() -> list[Path]:
    """The ``.argosmodel`` files shipped with news-monitor (the small ru->en test model)."""
    return sorted(BUNDLED_DIR.glob("*.argosmodel"))
