#!/bin/bash
# Privileged smoke test of systemd/news-monitor.service under a real systemd (PID 1 in private
# pid/mount/uts/ipc/cgroup namespaces; /etc overlaid, /run /tmp /opt /var/* on tmpfs, so the host
# is not changed). A stand-in daemon (standin.py) replaces `monitor run`; it imports torch,
# ctranslate2 and argostranslate under the unit's sandbox and seccomp filter. Checks: READY and
# STATUS, hardening (read-only /opt, state dir), reload, watchdog kill of a wedged loop with a
# stack dump and restart, clean stop with exit 0. Needs root, unshare, overlayfs, and the repo
# .venv. Not part of the pytest suite.   Usage: sudo systemd/smoke/run.sh
set -euo pipefail
cd "$(dirname "$0")"
SMOKE_TMP=$(mktemp -d /tmp/nm-smoke.XXXXXX); SMOKE_PORT=${SMOKE_PORT:-18765}
export SMOKE_TMP SMOKE_PORT
mkdir "$SMOKE_TMP/www"
printf '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>' >"$SMOKE_TMP/www/feed.xml"
python3 -m http.server "$SMOKE_PORT" --bind 127.0.0.1 --directory "$SMOKE_TMP/www" >/dev/null 2>&1 & HTTP=$!
setsid unshare --pid --fork --mount --uts --ipc --cgroup --propagation private --mount-proc ./boot.sh \
    >"$SMOKE_TMP/boot.log" 2>&1 & U=$!
P1=""
cleanup() { [ -n "$P1" ] && kill -9 "$P1" 2>/dev/null; kill "$HTTP" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
fails=0
ok() { echo "smoke: ok   $*"; }
bad() { echo "smoke: FAIL $*"; fails=$((fails + 1)); }
for _ in $(seq 100); do P1=$(pgrep -P "$U" -x systemd || true); [ -n "$P1" ] && break; sleep 0.2; done
[ -n "$P1" ] || { cat "$SMOKE_TMP/boot.log"; echo "smoke: systemd did not start"; exit 1; }
E() { nsenter -t "$P1" -m -p -u "$@"; }
prop() { E systemctl show -P "$1" news-monitor 2>/dev/null; }
journal() { E journalctl --no-pager -o cat -u news-monitor 2>/dev/null; }
# Not `journal | grep -q`: with pipefail, grep closing the pipe early fails the pipeline.
jhas() { journal >"$SMOKE_TMP/j"; grep -q -- "$1" "$SMOKE_TMP/j"; }
wait_for() { # seconds, command...
    local t=$1; shift
    for _ in $(seq $((t * 5))); do "$@" && return 0; sleep 0.2; done
    return 1
}
is_active() { [ "$(prop ActiveState)" = active ]; }
if wait_for 90 is_active; then ok "started: Type=notify READY=1 received"; else bad "not active: $(prop ActiveState)"; fi
[ "$(prop StatusText)" = "polling 1 feed" ] && ok "STATUS= shown" || bad "StatusText=$(prop StatusText)"
jhas "ready; watchdog interval 2.0" && ok "WATCHDOG_USEC passed (WatchdogSec=4s)" || bad "watchdog env"
jhas "/opt read-only" && ok "/opt read-only (ProtectSystem=strict)" || bad "/opt writable"
jhas "torch .* matmul ok" && ok "torch+ctranslate2 import under seccomp" || bad "torch import"
jhas "fetched 81 bytes status 200" && ok "HTTP to 127.0.0.1 allowed" || bad "fetch"
jhas "sqlite rows=1" && ok "database in \$STATE_DIRECTORY" || bad "state dir"
jhas "smtp password from credential: set" && ok "credential readable" \
    || echo "smoke: warn $(grep -m1 'cannot read credential' "$SMOKE_TMP/j" || echo 'credential not read')"
E systemctl reload news-monitor
reloaded() { [ "$(prop StatusText)" = reloaded ]; }
wait_for 10 reloaded && ok "reload: RELOADING=1 then READY=1" || bad "reload"
E systemctl kill -s USR2 --kill-who=main news-monitor
restarted() { [ "$(prop NRestarts)" = 1 ] && is_active; }
if wait_for 40 restarted; then ok "wedged loop killed by the watchdog and restarted"; else bad "watchdog: NRestarts=$(prop NRestarts)"; fi
jhas "withholding watchdog ping" && ok "pings withheld while wedged" || bad "no withholding"
jhas "Fatal Python error: Aborted" && ok "SIGABRT stack dump in the journal" || bad "no stack dump"
start=$(date +%s%N); E systemctl stop news-monitor; took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(prop ExecMainStatus)" = 0 ] && [ "$(prop Result)" = success ] && ok "stop: exit 0 in ${took} ms" \
    || bad "stop: status=$(prop ExecMainStatus) result=$(prop Result)"
journal | tail -n 200 >"$SMOKE_TMP/journal.txt"
echo "smoke: journal tail in $SMOKE_TMP/journal.txt"
[ "$fails" = 0 ] && echo "smoke: PASS" || { echo "smoke: $fails failure(s)"; exit 1; }
