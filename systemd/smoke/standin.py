"""Stand-in for `monitor run` under the hardened unit: imports, paths, sd_notify, watchdog, signals.

SIGHUP: reload (RELOADING=1 ... READY=1); SIGUSR2: wedge the main loop; SIGTERM: STOPPING=1, exit 0.
"""
import logging
import os
import signal
import sqlite3
import sys
import threading
import time

from monitor.service.logs import enable_crash_tracebacks, setup_logging
from monitor.service.sdnotify import Notifier, Watchdog

setup_logging("INFO"); enable_crash_tracebacks()
log = logging.getLogger("monitor.e2e")
n = Notifier(); wd = Watchdog(n)
log.info("uid=%s home=%s state=%s cred=%s cwd=%s", os.getuid(), os.environ.get("HOME"), os.environ.get("STATE_DIRECTORY"), os.environ.get("CREDENTIALS_DIRECTORY"), os.getcwd())
n.extend_timeout(60)
import argostranslate.package
import argostranslate.settings
import argostranslate.translate
import ctranslate2
import numpy
import torch

x = torch.randn(256, 256); y = (x @ x).sum().item()
log.info("torch %s threads=%d matmul ok; ctranslate2 %s cpu_count=%s", torch.__version__, torch.get_num_threads(), ctranslate2.__version__, os.cpu_count())
log.info("argos data_dir=%s", argostranslate.settings.data_dir)
from monitor.delivery.channels import smtp_password

try:
    log.info("smtp password from credential: %s", "set" if smtp_password() else "empty")
except OSError as exc:
    log.error("cannot read credential: %s", exc)
db = sqlite3.connect(os.path.join(os.environ["STATE_DIRECTORY"], "monitor.db"))
db.execute("create table if not exists t(x)"); db.execute("insert into t values (1)"); db.commit()
log.info("sqlite rows=%d", db.execute("select count(*) from t").fetchone()[0])
import httpx

r = httpx.get(os.environ.get("E2E_URL", "http://127.0.0.1:18765/feed.xml"), timeout=5)
log.info("fetched %d bytes status %d", len(r.content), r.status_code)
try:
    open("/opt/news-monitor/probe", "w")
    log.error("/opt writable!")
except OSError as e:
    log.info("/opt read-only: %s", e.strerror)
wedged = threading.Event(); stop = threading.Event(); hup = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGHUP, lambda *a: hup.set())
signal.signal(signal.SIGUSR2, lambda *a: wedged.set())
wd.start()
n.ready(status="polling 1 feed")
log.info("ready; watchdog interval %s", wd.interval)
while not stop.is_set():
    if hup.is_set():
        hup.clear(); n.reloading(); log.info("reloading"); time.sleep(0.5); n.ready(status="reloaded"); log.info("reloaded")
    if wedged.is_set():
        log.warning("simulating a wedged main loop"); time.sleep(3600)
    wd.tick(); stop.wait(0.5)
n.stopping(); log.info("stopping"); wd.stop(); sys.exit(0)
