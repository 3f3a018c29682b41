"""Safe unpacking of model archives (zip ``.argosmodel``, ``.zip``, ``.tar``, ``.tar.gz``, ...).

Every archive is unpacked into a fresh temporary folder inside the models dir, after every
member was checked: no absolute path, no drive letter or backslash, no ``..`` component, no
``.``-named top folder (``./x``), no link, device or other special file, exactly one top-level
folder. Only then does the caller move the result to a name the service chooses. Nothing
outside the temporary folder is ever written or deleted by this module.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from monitor import MonitorError

MAX_UNPACKED_BYTES = 8 * 1024**3  # NLLB-3.3B int8 is ~3.3 GB; anything far beyond is not a model


class ArchiveError(MonitorError):
    """An archive is unreadable or unsafe to unpack."""


def _check_name(archive: Path, name: str) -> PurePosixPath:
    if not name or "\\" in name or "\x00" in name:
        raise ArchiveError(f"{archive}: unsafe member name {name!r} in the archive")
    p = PurePosixPath(name)
    if p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"{archive}: absolute path {name!r} in the archive")
    parts = [x for x in name.split("/") if x]
    if not parts or any(x in ("..", ".") for x in parts):
        raise ArchiveError(f"{archive}: unsafe path {name!r} in the archive ('.' or '..' component)")
    return PurePosixPath(*parts)


def _top(archive: Path, names: list[PurePosixPath]) -> str:
    tops = {n.parts[0] for n in names}
    if len(tops) != 1:
        raise ArchiveError(f"{archive}: expected one top-level folder in the archive, found {len(tops)}")
    top = tops.pop()
    if not any(len(n.parts) > 1 for n in names):
        raise ArchiveError(f"{archive}: the archive holds no folder")
    return top


def _unpack_zip(archive: Path, dest: Path) -> str:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        names = [_check_name(archive, i.filename) for i in infos]
        top = _top(archive, names)
        total = 0
        for info, _rel in zip(infos, names):
            mode = info.external_attr >> 16
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise ArchiveError(f"{archive}: {info.filename!r} is a link or special file")
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise ArchiveError(f"{archive}: unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        for info, rel in zip(infos, names):
            target = dest.joinpath(*rel.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    return top


def _unpack_tar(archive: Path, dest: Path) -> str:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        names = [_check_name(archive, m.name) for m in members]
        top = _top(archive, names)
        total = 0
        for m in members:
            if not (m.isfile() or m.isdir()):
                raise ArchiveError(f"{archive}: {m.name!r} is a link or special file")
            total += m.size
            if total > MAX_UNPACKED_BYTES:
                raise ArchiveError(f"{archive}: unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        for m, rel in zip(members, names):
            target = dest.joinpath(*rel.parts)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            if src is None:
                raise ArchiveError(f"{archive}: cannot read {m.name!r}")
            with src, open(target, "xb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    return top


def _copy_dir(src: Path, dest: Path) -> str:
    """Copy a model folder (regular files and folders only, no link followed)."""
    top = src.name or "model"
    for root, dirs, files in os.walk(src, followlinks=False):
        rel = Path(root).relative_to(src)
        for d in list(dirs):
            if (Path(root) / d).is_symlink():
                raise ArchiveError(f"{src}: {rel / d} is a link; copy the real files")
        (dest / top / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            p = Path(root) / f
            st = p.lstat()
            if not stat.S_ISREG(st.st_mode):
                raise ArchiveError(f"{src}: {rel / f} is a link or special file")
            shutil.copyfile(p, dest / top / rel / f, follow_symlinks=False)
    return top


@contextmanager
def unpacked(source: Path, models_dir: Path) -> Iterator[Path]:
    """The model folder of ``source`` (an archive or a folder), unpacked into a fresh temporary
    folder inside ``models_dir``; the temporary folder is removed on exit (whatever the caller
    did not move out of it)."""
    source = Path(source)
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".install-", dir=models_dir))
    try:
        if source.is_dir():
            top = _copy_dir(source, tmp)
        elif not source.is_file():
            raise ArchiveError(f"{source}: no such file or folder")
        elif zipfile.is_zipfile(source):
            top = _unpack_zip(source, tmp)
        elif tarfile.is_tarfile(source):
            try:
                top = _unpack_tar(source, tmp)
            except tarfile.TarError as exc:
                raise ArchiveError(f"{source}: unreadable tar archive: {exc}") from exc
        else:
            raise ArchiveError(f"{source}: not a model archive (zip or tar) nor a folder")
        yield tmp / top
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{source}: unreadable zip archive: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def free_name(models_dir: Path, wanted: str) -> Path:
    """``models_dir/wanted``, or ``wanted-2``, ``wanted-3``... if that name is taken."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in wanted).strip("._") or "model"
    path = Path(models_dir) / safe
    n = 2
    while path.exists() or path.is_symlink():
        path = Path(models_dir) / f"{safe}-{n}"
        n += 1
    return path
