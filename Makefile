# Two commands on a fresh clone:  `make demo`  and  `make test`.
# Each creates (or reuses) the virtual environment .venv with what it needs.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
MODEL  ?=

.PHONY: demo test lint bench clean

$(VENV)/.demo-ready: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[demo]'
	touch $@

# torch first, pinned, so nothing later asks for a (multi-GB) CUDA build.
$(VENV)/.test-ready: pyproject.toml $(VENV)/.demo-ready
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	# OpenAI's reference tokenizer (test-only); --no-deps keeps torchvision out.
	$(PIP) install --no-deps openai-clip==1.0.1
	touch $@

demo: $(VENV)/.demo-ready
	$(PY) scripts/demo.py $(if $(MODEL),--model $(MODEL))

test: $(VENV)/.test-ready
	$(PY) -m ruff check src tests scripts benchmarks
	$(PY) -m pytest

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
