# news-monitor: `make run` (one poll-and-digest cycle on config.yaml), `make test`, `make bench`, `make demo`,
# `make check` (ruff + mypy, then `monitor check`), `make lint` (ruff + mypy only).
# torch must be the CPU build and must be installed before argostranslate: on these machines
# `pip install torch==2.13.0` is a CPU wheel; elsewhere pass TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (systemd/install.sh takes the same TORCH_INDEX knob, with the same empty default)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
TORCH_INDEX ?=
TORCH_FLAGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

.PHONY: install run test bench demo check lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_FLAGS) torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

run: install
	$(VENV)/bin/monitor run --once

test: install
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: install
	$(PY) -m bench.run

demo: install
	$(VENV)/bin/monitor demo

# the linters (CI runs them), then `monitor check` on config.yaml and the watchlists
check: lint
	$(VENV)/bin/monitor check

lint: install
	$(VENV)/bin/ruff check monitor tests bench tools
	$(VENV)/bin/mypy

clean:
	rm -rf var bench/out
