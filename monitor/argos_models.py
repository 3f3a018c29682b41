"""Argos Translate model management: list, install from a file, install from the package index.

Models live in a directory the caller passes (the service's state dir, never ``~``).

argostranslate reads its directories and thread settings from environment variables once, when
``argostranslate.settings`` is first imported, and keeps them in module globals. This module
sets those variables just before that first import (so nothing is created under ``~``) and,
under a lock, points the globals at the models dir given to each call. One process therefore
works with one models dir at a time; the service uses exactly one (``<state>/models``).

Only ``argostranslate.package``/``settings`` are imported here (no torch), except that
``install_from_path`` itself imports ``argostranslate.translate`` to clear its caches.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from monitor.errors import MonitorError

DEFAULT_INDEX_URL = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/"
BUNDLED_DIR = Path(__file__).resolve().parent / "data" / "models"
INDEX_TIMEOUT_S = 20.0

_LOCK = threading.RLock()


class ModelError(MonitorError):
    """A translation model could not be listed, fetched or installed."""


@dataclass(frozen=True)
class ModelInfo:
    """One installed Argos package."""

    from_code: str
    to_code: str
    version: str
    size_bytes: int
    path: Path
    name: str  # the package's folder name, e.g. translate-ru_en-1_0

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


def _read_info(pkg_dir: Path) -> ModelInfo | None:
    meta_path = pkg_dir / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("type", "translate") != "translate" or not meta.get("from_code"):
        return None
    size = sum(p.stat().st_size for p in pkg_dir.rglob("*") if p.is_file())
    return ModelInfo(
        from_code=str(meta["from_code"]),
        to_code=str(meta.get("to_code", "")),
        version=str(meta.get("package_version", "")),
        size_bytes=size,
        path=pkg_dir,
        name=pkg_dir.name,
    )


def list_models(models_dir: Path) -> list[ModelInfo]:
    """Installed translation packages in ``models_dir`` (reads metadata.json only)."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    found = [_read_info(p) for p in sorted(models_dir.iterdir()) if p.is_dir()]
    return [m for m in found if m is not None]


def _top_folder(path: Path) -> str:
    """Validate an .argosmodel zip and return its single top-level folder name."""
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not an Argos model (must be a zip archive)")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    tops = {n.split("/", 1)[0] for n in names if n.strip("/")}
    if len(tops) != 1:
        raise ModelError(f"{path}: expected one top-level folder in the archive, found {len(tops)}")
    top = tops.pop()
    if f"{top}/metadata.json" not in names:
        raise ModelError(f"{path}: no {top}/metadata.json in the archive")
    if any(n.startswith("/") or ".." in n.split("/") for n in names):
        raise ModelError(f"{path}: unsafe path in the archive")
    return top


def install_from_file(path: Path, models_dir: Path) -> ModelInfo:
    """Install an ``.argosmodel`` with ``argostranslate.package.install_from_path``.

    Older versions of the same language pair are removed afterwards."""
    path = Path(path).resolve()
    top = _top_folder(path)
    with _LOCK:
        _settings(models_dir)
        import argostranslate.package as argos_package

        try:
            argos_package.install_from_path(path)
        except Exception as exc:  # Argos raises bare Exception
            raise ModelError(f"{path}: install failed: {exc}") from exc
        installed = Path(models_dir).resolve() / top
        info = _read_info(installed)
        if info is None:
            shutil.rmtree(installed, ignore_errors=True)
            raise ModelError(f"{path}: not a translation package (metadata.json unusable)")
        for other in list_models(models_dir):
            if other.pair == info.pair and other.path != info.path:
                shutil.rmtree(other.path, ignore_errors=True)
        _clear_argos_caches()
    return info


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
        "with internet access and run `monitor models install --file FILE.argosmodel`."
    )


def install_from_index(
    from_code: str, to_code: str, models_dir: Path, index_url: str | None = None
) -> ModelInfo:
    """Download and install the package for one pair from the Argos package index.

    ``index_url`` is the index's base URL (``index.json`` is appended); default:
    ``$ARGOS_PACKAGE_INDEX`` or Argos's own index.
    Raises ModelError naming the missing network when the index or download is unreachable."""
    with _LOCK:
        url = index_url or os.environ.get("ARGOS_PACKAGE_INDEX") or DEFAULT_INDEX_URL
        settings = _settings(models_dir, url)
        url = settings.remote_package_index
        try:
            with urllib.request.urlopen(url, timeout=INDEX_TIMEOUT_S) as resp:
                data = resp.read()
            index = json.loads(data)
        except (urllib.error.URLError, OSError) as exc:
            raise _network_error(url, exc) from exc
        except ValueError as exc:
            raise ModelError(f"package index at {url} is not valid JSON: {exc}") from exc
        if not isinstance(index, list):
            raise ModelError(f"package index at {url} is not a list of packages")
        Path(settings.local_package_index).write_bytes(data)

        import argostranslate.package as argos_package

        # The local index.json now exists, so this never re-downloads (nor recurses offline).
        available = argos_package.get_available_packages()
        match = [p for p in available if p.from_code == from_code and p.to_code == to_code]
        if not match:
            pairs = sorted({f"{p.from_code}->{p.to_code}" for p in available if p.from_code})
            raise ModelError(
                f"the package index at {url} has no {from_code}->{to_code} model"
                + (f" (it has: {', '.join(pairs)})" if pairs else "")
            )
        best = max(match, key=lambda p: _version_key(p.package_version))
        try:
            download = best.download()
        except Exception as exc:  # Argos raises bare Exception("Download failed ...")
            raise _network_error(", ".join(best.links) or url, exc) from exc
        try:
            return install_from_file(download, models_dir)
        finally:
            Path(download).unlink(missing_ok=True)


def _version_key(version: str) -> tuple[int, ...]:
    parts = []
    for part in str(version).split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def bundled_models() -> list[Path]:
    """The ``.argosmodel`` files shipped with news-monitor (the small ru->en test model)."""
    return sorted(BUNDLED_DIR.glob("*.argosmodel"))
