"""Model management: install from a file, from a package index served on 127.0.0.1, offline errors."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from argospkg import repack

from monitor.argos_models import (
    ModelError,
    argos_dirs,
    bundled_models,
    install_from_file,
    install_from_index,
    list_models,
)


@pytest.fixture(scope="module")
def bundled() -> Path:
    models = [p for p in bundled_models() if p.name.startswith("translate-ru_en-")]
    assert models, "the ru->en test model must be committed under monitor/data/models/"
    return models[0]


def _serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture
def index_server(tmp_path: Path, bundled: Path) -> Iterator[tuple[str, Path]]:
    """A stand-in for the Argos package index: index.json + the .argosmodel, over HTTP."""
    root = tmp_path / "index-root"
    root.mkdir()
    (root / "ru_en.argosmodel").write_bytes(bundled.read_bytes())
    server, url = _serve(root)
    index = [
        {"type": "translate", "from_code": "ru", "from_name": "Russian", "to_code": "en",
         "to_name": "English", "package_version": "1.0", "argos_version": "1.11.0",
         "links": [url + "ru_en.argosmodel"]},
        {"type": "translate", "from_code": "kk", "from_name": "Kazakh", "to_code": "en",
         "to_name": "English", "package_version": "1.1", "argos_version": "1.11.0",
         "links": [url + "missing_kk_en.argosmodel"]},
    ]
    (root / "index.json").write_text(json.dumps(index), encoding="utf-8")
    try:
        yield url, root
    finally:
        server.shutdown()
        server.server_close()


def _repack(src: Path, dest: Path, version: str) -> Path:
    """A copy of the package under another version and folder name."""
    return repack(src, dest, f"translate-ru_en-{version.replace('.', '_')}", package_version=version)


def test_install_from_file_lists_the_model(tmp_path: Path, bundled: Path) -> None:
    models_dir = tmp_path / "state" / "models"
    info = install_from_file(bundled, models_dir)
    assert (info.from_code, info.to_code, info.version) == ("ru", "en", "1.0")
    assert info.path.parent == models_dir.resolve()
    for part in ("metadata.json", "sentencepiece.model", "model/model.bin", "minisbd/ru.onnx"):
        assert (info.path / part).is_file(), part
    listed = list_models(models_dir)
    assert [m.pair for m in listed] == [("ru", "en")]
    assert listed[0].size_bytes == info.size_bytes > 1_000_000
    # Argos's own index/cache/settings dirs live beside the models dir, not under ~ (installing
    # needs no Argos code, so it creates none of them)
    assert not any(d.exists() for d in argos_dirs(models_dir).values())
    assert argos_dirs(models_dir)["data"].parent == models_dir.resolve().parent / "argos"


def test_newer_version_replaces_older(tmp_path: Path, bundled: Path) -> None:
    models_dir = tmp_path / "models"
    old = install_from_file(_repack(bundled, tmp_path / "old.argosmodel", "0.9"), models_dir)
    assert old.version == "0.9"
    new = install_from_file(bundled, models_dir)
    assert [(m.version, m.name) for m in list_models(models_dir)] == [(new.version, new.name)]
    assert not old.path.exists()


def test_install_rejects_non_packages(tmp_path: Path) -> None:
    not_zip = tmp_path / "x.argosmodel"
    not_zip.write_text("hello")
    with pytest.raises(ModelError, match="zip"):
        install_from_file(not_zip, tmp_path / "models")
    no_meta = tmp_path / "y.argosmodel"
    with zipfile.ZipFile(no_meta, "w") as zf:
        zf.writestr("pkg/model/model.bin", b"\0")
    with pytest.raises(ModelError, match="metadata.json"):
        install_from_file(no_meta, tmp_path / "models")
    with pytest.raises(ModelError, match="no such file"):
        install_from_file(tmp_path / "absent.argosmodel", tmp_path / "models")
    assert list_models(tmp_path / "models") == []


def test_install_from_index_over_http(tmp_path: Path, index_server: tuple[str, Path]) -> None:
    url, _ = index_server
    models_dir = tmp_path / "models"
    info = install_from_index("ru", "en", models_dir, index_url=url)
    assert info.pair == ("ru", "en") and info.version == "1.0"
    assert [m.pair for m in list_models(models_dir)] == [("ru", "en")]
    downloads = argos_dirs(models_dir)["cache"] / "argos-translate" / "downloads"
    assert list(downloads.iterdir()) == []  # the downloaded zip is removed after install


def test_index_without_the_pair_names_what_it_has(
    tmp_path: Path, index_server: tuple[str, Path]
) -> None:
    url, _ = index_server
    with pytest.raises(ModelError, match=r"no de->en model.*kk->en, ru->en"):
        install_from_index("de", "en", tmp_path / "models", index_url=url)


def test_failed_download_names_the_network(tmp_path: Path, index_server: tuple[str, Path]) -> None:
    url, _ = index_server
    with pytest.raises(ModelError, match="no network access"):
        install_from_index("kk", "en", tmp_path / "models", index_url=url)
    assert list_models(tmp_path / "models") == []


def test_offline_index_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ModelError) as err:
        install_from_index("ru", "en", tmp_path / "models", index_url=f"http://127.0.0.1:{port}")
    message = str(err.value)
    assert f"http://127.0.0.1:{port}/index.json" in message
    assert "no network access" in message and "--file" in message
    assert list_models(tmp_path / "models") == []
