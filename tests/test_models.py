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

from monitor.analysis.argos_models import (
    ModelError,
    argos_dirs,
    bundled_models,
    install_from_file,
    install_from_index,
    list_models,
)
from tests.support.argospkg import repack


@pytest.fixture(scope="module")
def bundled() -> Path:
    models = [p for p in bundled_models() if p.name.startswith("translate-ru_en-")]
    assert models, "the ru->en test model must be committed under monitor/analysis/data/models/"
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


# ---- hostile archives (issue 19): unpacked into a fresh temp dir, validated, then moved ---------------

def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o120777 << 16)  # a symbolic link
            zf.writestr(info, target)
    return path


def _state(models_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(models_dir)): p.read_bytes() for p in sorted(models_dir.rglob("*")) if p.is_file()}


META = json.dumps({"package_version": "1.0", "from_code": "kk", "to_code": "en"}).encode()


@pytest.mark.parametrize(
    ("members", "links", "message"),
    [
        ({"/tmp/evil/metadata.json": META}, None, "absolute path"),
        ({"pkg/metadata.json": META, "pkg/../../evil.txt": b"x"}, None, r"'\.\.'"),
        ({"./metadata.json": META, "./model/model.bin": b"\0"}, None, r"'\.'"),
        ({"metadata.json": META, "model/model.bin": b"\0"}, None, "one top-level folder"),
        ({"pkg\\..\\evil.txt": b"x", "pkg/metadata.json": META}, None, "unsafe member name"),
        ({"pkg/metadata.json": META, "pkg/model/model.bin": b"\0"}, {"pkg/model/shared_vocabulary.json": "/etc/passwd"},
         "link or special file"),
        ({"pkg/metadata.json": META}, None, "model/model.bin"),
    ],
)
def test_hostile_archives_are_refused_and_change_nothing(
    tmp_path: Path, bundled: Path, members: dict[str, bytes], links: dict[str, str] | None, message: str
) -> None:
    models_dir = tmp_path / "models"
    install_from_file(bundled, models_dir)
    before = _state(models_dir)
    hostile = _zip(tmp_path / "hostile.argosmodel", members, links)
    with pytest.raises(ModelError, match=message):
        install_from_file(hostile, models_dir)
    assert _state(models_dir) == before  # nothing deleted, nothing written
    assert [p.name for p in models_dir.iterdir()] == ["translate-ru_en-1_0"]  # no temp dir left
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil").exists()


def test_a_package_named_like_an_installed_model_never_unpacks_over_it(tmp_path: Path, bundled: Path) -> None:
    models_dir = tmp_path / "models"
    ru = install_from_file(bundled, models_dir)
    before = _state(ru.path)
    # the archive's folder is named after the installed ru->en model, its metadata claims kk->en
    kk = install_from_file(repack(bundled, tmp_path / "kk.argosmodel", ru.name, from_code="kk"), models_dir)
    assert kk.path != ru.path and kk.name == "translate-kk_en-1_0"
    assert sorted(m.pair for m in list_models(models_dir)) == [("kk", "en"), ("ru", "en")]
    after = _state(ru.path)
    assert after == before
    # and a second copy of the same pair and version gets a fresh name, then replaces the first
    again = install_from_file(repack(bundled, tmp_path / "ru2.argosmodel", "x"), models_dir)
    assert again.path.name == "translate-ru_en-1_0-2"
    assert sorted(m.name for m in list_models(models_dir)) == ["translate-kk_en-1_0", "translate-ru_en-1_0-2"]


def test_hostile_tar_for_a_multilingual_model(tmp_path: Path) -> None:
    import io
    import tarfile

    from monitor.analysis.multilingual_models import install_multilingual, list_multilingual

    models_dir = tmp_path / "models"
    for kind in ("sym", "hard", "dotdot", "dev"):
        archive = tmp_path / f"{kind}.tar.gz"
        with tarfile.open(archive, "w:gz") as tf:
            data = b"{}"
            info = tarfile.TarInfo("nllb/manifest.json")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            evil = tarfile.TarInfo("nllb/model.bin" if kind != "dotdot" else "nllb/../../model.bin")
            if kind == "sym":
                evil.type, evil.linkname = tarfile.SYMTYPE, "/etc/passwd"
            elif kind == "hard":
                evil.type, evil.linkname = tarfile.LNKTYPE, "/etc/passwd"
            elif kind == "dev":
                evil.type = tarfile.CHRTYPE
            else:
                evil.size = 1
            tf.addfile(evil, io.BytesIO(b"x") if kind == "dotdot" else None)
        with pytest.raises(ModelError, match="link or special file|'\\.\\.'"):
            install_multilingual(archive, models_dir)
    assert list_multilingual(models_dir) == []
    assert list((models_dir / "multilingual").iterdir()) == []
    assert not (tmp_path / "model.bin").exists()


def test_bundled_toy_model_is_marked_as_a_test_model(tmp_path: Path, bundled: Path) -> None:
    info = install_from_file(bundled, tmp_path / "models")
    assert info.test_model and list_models(tmp_path / "models")[0].test_model
    other = install_from_file(repack(bundled, tmp_path / "other.argosmodel", "x", package_version="2.0"),
                              tmp_path / "models2")
    assert not other.test_model


# ---- unattended downloads (issue 17): a whole-operation deadline, no lock held while downloading ---------

class _Staller(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "trickle"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.endswith("index.json"):
            body = json.dumps([{"type": "translate", "from_code": "ru", "to_code": "en",
                                "package_version": "1.0", "links": [self.server.url + "ru_en.argosmodel"]}]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", "10000000")
        self.end_headers()
        try:
            for _ in range(200):  # one byte every 0.1 s: never a read timeout, never done
                if self.mode == "trickle":
                    self.wfile.write(b"P")
                    self.wfile.flush()
                threading.Event().wait(0.1)
        except OSError:
            pass


@pytest.fixture(params=["trickle", "silent"])
def stalling_index(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("H", (_Staller,), {"mode": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.url  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_stalled_download_hits_the_deadline_without_holding_the_models_lock(
    tmp_path: Path, stalling_index: str
) -> None:
    import time

    from monitor.analysis import argos_models

    models_dir = tmp_path / "models"
    errors: list[BaseException] = []

    def install() -> None:
        try:
            install_from_index("ru", "en", models_dir, index_url=stalling_index, timeout=2.0)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=install)
    worker.start()
    time.sleep(0.8)  # the download is under way
    # model loading takes this lock: it must be free while the download stalls
    assert argos_models._LOCK.acquire(timeout=0.5), "the models lock is held during the download"
    argos_models._LOCK.release()
    worker.join(timeout=20)
    elapsed = time.monotonic() - started
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ModelError)
    assert "2 s" in str(errors[0]) and "nothing was installed" in str(errors[0])
    assert elapsed < 5.0, elapsed
    assert list_models(models_dir) == []
    downloads = argos_dirs(models_dir)["cache"] / "argos-translate" / "downloads"
    assert list(downloads.iterdir()) == []


def test_install_runs_the_self_check_before_anything_is_replaced(tmp_path: Path, bundled: Path) -> None:
    """A package whose model translates garbage is refused; the installed one stays."""
    from monitor.analysis.translate import verify_argos

    models_dir = tmp_path / "models"
    good = install_from_file(bundled, models_dir, verify=verify_argos)
    before = _state(models_dir)
    broken = tmp_path / "broken.argosmodel"
    with zipfile.ZipFile(bundled) as zin, zipfile.ZipFile(broken, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.endswith("model/shared_vocabulary.json"):
                vocab = json.loads(data)
                data = json.dumps(vocab[:4] + vocab[4:][::-1]).encode()
            if item.filename.endswith("metadata.json"):
                meta = json.loads(data)
                meta["package_version"] = "2.0"
                data = json.dumps(meta).encode()
            zout.writestr(item, data)
    with pytest.raises(ModelError, match="not installed: self-check failed"):
        install_from_file(broken, models_dir, verify=verify_argos)
    assert _state(models_dir) == before and [m.name for m in list_models(models_dir)] == [good.name]
    assert sorted(p.name for p in models_dir.iterdir()) == [good.name]
