# The two commands of the README's quick start, and what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Served on every address (0.0.0.0): this machine's own is the one to open here.
SHOWN_HOST = $(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST))

.PHONY: demo test install clean

demo: $(VENV)/.installed
	$(BIN)/flask --app gridgov db upgrade
	$(BIN)/flask --app gridgov seed naxi
	@echo
	@echo "  gridgov (纳溪区 demo) → http://$(SHOWN_HOST):$(PORT)/   API docs: http://$(SHOWN_HOST):$(PORT)/docs"
	@echo
	$(BIN)/gunicorn --workers 2 --bind $(HOST):$(PORT) wsgi:app

test: $(VENV)/.installed
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres,test]'
	touch $@

# Not instance/: it holds the database, the attachments and the secret key.
clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
