# Everything the project needs is installed by `make install` into .venv; nothing by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench standin clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(STAMP)

run: install
	$(PY) app.py

# mypy's scope and settings are in pyproject.toml ([tool.mypy]).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench

# A local stand-in for Slack's Web API, for trying the app by hand (see README).
standin: install
	$(PY) -m devtools.standin

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
