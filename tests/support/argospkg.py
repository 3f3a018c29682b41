"""Copies of the bundled Argos package with other metadata, for model-management tests."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any


def repack(src: Path, dest: Path, top: str, **metadata: Any) -> Path:
    """Copy the .argosmodel ``src`` to ``dest`` under the top folder ``top``, with ``metadata``
    merged into its metadata.json."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            name = top + "/" + item.filename.split("/", 1)[1]
            if name.endswith("/metadata.json"):
                meta = json.loads(data)
                meta.update(metadata)
                data = json.dumps(meta).encode()
            zout.writestr(name, data)
    return dest
