#!/bin/bash
# PID 1 side of run.sh: runs inside unshare --pid --mount --uts --ipc --cgroup (private mounts).
# Overlays /etc, puts tmpfs over /run /tmp /opt /var/{lib,cache,log,tmp}, installs the real
# unit plus a test drop-in, masks host-touching units, then execs systemd as PID 1.
set -eu
E=$(cd "$(dirname "$0")" && pwd); R=$(cd "$E/../.." && pwd); W=${SMOKE_TMP:?}/w
mkdir -p $W && mount -t tmpfs tmpfs $W && mkdir -p $W/up $W/work $W/opt
cp $E/standin.py $W/opt/
mount -t overlay overlay -o lowerdir=/etc,upperdir=$W/up,workdir=$W/work /etc
mount -t tmpfs tmpfs /opt
for d in /run /var/lib /var/cache /var/log /var/tmp; do mount -t tmpfs tmpfs $d; done
mkdir -p /var/lib/systemd /run/lock
mkdir -p /opt/news-monitor && cp $W/opt/standin.py /opt/news-monitor/
/usr/bin/python3.11 -m venv --without-pip /opt/news-monitor/.venv
printf '%s\n' "$R/.venv/lib/python3.11/site-packages" "$R" > /opt/news-monitor/.venv/lib/python3.11/site-packages/e2e.pth
printf '#!/opt/news-monitor/.venv/bin/python\nimport runpy\nrunpy.run_path("/opt/news-monitor/standin.py", run_name="__main__")\n' > /opt/news-monitor/.venv/bin/monitor
chmod 755 /opt/news-monitor/.venv/bin/monitor
mkdir -p /etc/news-monitor && echo "feeds: []" > /etc/news-monitor/config.yaml
printf 's3cret\n' > /etc/news-monitor/smtp-password && chmod 600 /etc/news-monitor/smtp-password
S=/etc/systemd/system
cp "$E/../news-monitor.service" $S/
mkdir -p $S/news-monitor.service.d
printf "[Service]\nWatchdogSec=4s\nRestartSec=1s\nEnvironment=E2E_URL=http://127.0.0.1:${SMOKE_PORT:?}/feed.xml\n" > $S/news-monitor.service.d/e2e.conf
printf '[Unit]\nDescription=e2e\nWants=news-monitor.service\n' > $S/nm-e2e.target
for u in systemd-sysctl.service systemd-binfmt.service systemd-modules-load.service systemd-random-seed.service \
  systemd-tmpfiles-clean.timer systemd-remount-fs.service systemd-hwdb-update.service systemd-udevd.service \
  systemd-udev-trigger.service kmod-static-nodes.service proc-sys-fs-binfmt_misc.automount systemd-firstboot.service \
  systemd-machine-id-commit.service ldconfig.service systemd-sysusers.service systemd-journal-catalog-update.service \
  systemd-update-done.service dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  sys-kernel-config.mount sys-fs-fuse-connections.mount tmp.mount timers.target systemd-timesyncd.service \
  systemd-logind.service getty.target apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
  systemd-pstore.service systemd-boot-system-token.service systemd-networkd.service systemd-resolved.service swap.target \
  cryptsetup.target systemd-journald-audit.socket systemd-update-utmp.service; do ln -sf /dev/null $S/$u; done
mount -t tmpfs tmpfs /tmp
hostname nm-e2e
exec env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --system --unit=nm-e2e.target --log-level=info --log-target=console
