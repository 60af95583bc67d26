# Two entry points for a fresh machine with Python >= 3.10 and make:
#   make demo   fit BG/NBD + Gamma-Gamma on the bundled CDNOW data and print a forecast summary
#   make test   run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The report test opens the HTML report in headless Chromium (Debian package).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

demo: $(STAMP)
	mkdir -p out
	$(VENV)/bin/clvmodels forecast --dataset cdnow --out out/forecast.csv
	$(VENV)/bin/clvmodels report --dataset cdnow --out out/report.html

test: $(STAMP) system-deps
	$(PY) -m pytest -n 2 -q

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
