"""Secrets kept out of config.yaml: an environment variable, else a systemd credential file.

``secret("MONITOR_SMTP_PASSWORD", "smtp-password")`` reads the variable, else
``$CREDENTIALS_DIRECTORY/smtp-password`` (what systemd's ``LoadCredential=`` provides); None when
neither is there. The SMTP password and the database password are both read this way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def secret(variable: str, credential: str, env: Mapping[str, str] = os.environ) -> str | None:
    """``env[variable]``, else the file ``$CREDENTIALS_DIRECTORY/<credential>`` without its newline."""
    value = env.get(variable)
    if value:
        return value
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        try:
            return (Path(cred_dir) / credential).read_text(encoding="utf-8").rstrip("\r\n") or None
        except FileNotFoundError:
            return None
    return None
