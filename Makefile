# Everything the project needs is installed by `make install` into .venv; nothing by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench standin demo screenshots clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(STAMP)

run: install
	$(PY) app.py

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench

# A local stand-in for Slack's Web API, for trying the app by hand (see README).
standin: install
	$(PY) -m devtools.standin

# The app, a stand-in Slack and a page that plays Slack for a demo care team (README, "Try it").
# The clock control needs libfaketime: installed here when missing and we may (root, apt-get);
# without it the demo runs and the page says the clock control is unavailable.
DEMO_PORT ?= 8080
demo: install
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    echo "demo: installing libfaketime for the clock control (apt-get install faketime)" && \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null 2>&1)) || \
	    echo "demo: libfaketime not available; the clock control will be off"; }
	DEMO_PORT=$(DEMO_PORT) $(PY) -m devtools.demo

# README's screenshots in docs/, taken by the browser test.
screenshots: install
	DEMO_SCREENSHOTS=docs $(PY) -m pytest -q tests/test_demo_browser.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
