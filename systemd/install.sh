#!/bin/sh
# Install news-monitor as a systemd service (run as root from a checkout):
#
#   sudo systemd/install.sh            # venv + config + unit, then: systemctl enable --now news-monitor
#   sudo systemd/install.sh --no-venv  # only config and unit (venv managed by hand)
#
# Layout: /opt/news-monitor/.venv (code), /etc/news-monitor (config.yaml, watchlists/, seeds/,
# smtp-password), /var/lib/news-monitor (created by systemd: database, models, digests).
# Existing files in /etc/news-monitor are never overwritten. Paths can be changed for a dry run
# with PREFIX=, CONFDIR=, UNITDIR=, SBINDIR= (the unit itself always names /opt and /etc).
# TORCH_INDEX= (default empty, as in the Makefile): a custom index for the torch wheel.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/news-monitor}
CONFDIR=${CONFDIR:-/etc/news-monitor}
UNITDIR=${UNITDIR:-/etc/systemd/system}
# A system interpreter: the venv links to it, and ProtectHome= hides /home and /root from the
# service, so a pyenv/conda Python under a home directory would not start.
PYTHON=${PYTHON:-/usr/bin/python3.11}
# The same knob as the Makefile's, with the same default: empty = plain `pip install torch==2.13.0`
# (a CPU wheel where the default index serves one); TORCH_INDEX=https://download.pytorch.org/whl/cpu
# picks PyTorch's CPU index where the default index would bring the CUDA build.
TORCH_INDEX=${TORCH_INDEX:-}
SBINDIR=${SBINDIR:-/usr/local/sbin}
VENV=1
[ "${1:-}" = "--no-venv" ] && VENV=0

say() { echo "install: $*"; }

if [ "$VENV" = 1 ]; then
    real=$(readlink -f "$PYTHON")
    case "$real" in
        /home/* | /root/* | /run/user/*)
            echo "install: $PYTHON resolves to $real, which the service cannot see (ProtectHome=yes);" >&2
            echo "install: use a system Python 3.11+, e.g. PYTHON=/usr/bin/python3.11" >&2
            exit 1 ;;
    esac
    say "venv $PREFIX/.venv with $real"
    install -d -m 0755 "$PREFIX"
    [ -x "$PREFIX/.venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/.venv"
    "$PREFIX/.venv/bin/pip" install --quiet --upgrade pip
    # CPU build of torch first, pinned; then the package and its dependencies.
    if [ -n "$TORCH_INDEX" ]; then
        "$PREFIX/.venv/bin/pip" install --quiet --index-url "$TORCH_INDEX" torch==2.13.0
    else
        "$PREFIX/.venv/bin/pip" install --quiet torch==2.13.0
    fi
    "$PREFIX/.venv/bin/pip" install --quiet "$SRC"
    # /opt is read-only to the service (PYTHONDONTWRITEBYTECODE=1): compile once now.
    "$PREFIX/.venv/bin/python" -m compileall -q "$PREFIX/.venv" >/dev/null || true
    [ -f "$PREFIX/README.md" ] || install -m 0644 "$SRC/README.md" "$PREFIX/README.md" 2>/dev/null || true
fi

say "config in $CONFDIR"
install -d -m 0755 "$CONFDIR"
[ -e "$CONFDIR/config.yaml" ] || install -m 0644 "$SRC/systemd/config.example.yaml" "$CONFDIR/config.yaml"
for d in watchlists seeds; do
    if [ ! -e "$CONFDIR/$d" ]; then
        install -d -m 0755 "$CONFDIR/$d"
        if [ -d "$SRC/$d" ]; then
            find "$SRC/$d" -maxdepth 1 -type f -exec install -m 0644 {} "$CONFDIR/$d/" \;
        fi
    fi
done
# LoadCredential= fails the start if the file is missing; empty means "no SMTP password".
if [ ! -e "$CONFDIR/smtp-password" ]; then
    (umask 077 && : >"$CONFDIR/smtp-password")
fi
chmod 0600 "$CONFDIR/smtp-password"

say "operator wrapper $SBINDIR/monitorctl (monitor commands as the service's user)"
install -d -m 0755 "$SBINDIR"
install -m 0755 "$SRC/systemd/monitorctl" "$SBINDIR/monitorctl"

say "unit $UNITDIR/news-monitor.service"
install -d -m 0755 "$UNITDIR"
install -m 0644 "$SRC/systemd/news-monitor.service" "$UNITDIR/news-monitor.service"
if [ -d /run/systemd/system ] && [ "$UNITDIR" = /etc/systemd/system ]; then
    systemctl daemon-reload
fi
say "done. Edit $CONFDIR/config.yaml, check it with: monitorctl check; then: systemctl enable --now news-monitor"
