# Two commands on a fresh clone:  `make demo`  and  `make test`.
# Each creates (or reuses) the virtual environment .venv with what it needs.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
MODEL  ?=

.PHONY: demo test docs browser fonts xterm facephotos jq clean

$(VENV)/.demo-ready: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[demo,video]'
	touch $@

# torch first, pinned, so nothing later asks for a (multi-GB) CUDA build. The test extra brings
# the video extra (PyAV) with the others: the video tests run on every `make test`.
$(VENV)/.test-ready: pyproject.toml $(VENV)/.demo-ready
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	# OpenAI's reference tokenizer (test-only); --no-deps keeps torchvision out.
	$(PIP) install --no-deps openai-clip==1.0.1
	# open_clip's NLLB-CLIP text tower and tokenizer, and Multilingual-CLIP's model: the references of
	# tests/test_multilingual.py (--no-deps: open_clip would pull torchvision, see tests/test_families.py).
	$(PIP) install --no-deps open_clip_torch==3.3.0 multilingual-clip==1.0.10
	touch $@

demo: $(VENV)/.demo-ready
	$(PY) scripts/demo.py $(if $(MODEL),--model $(MODEL))

# The web page tests drive Debian's chromium (Playwright's own browser download fails offline).
browser:
	@test -x /usr/bin/chromium || { test "$$(id -u)" = 0 || { echo "the web tests need chromium: sudo apt-get install chromium" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The OCR tests draw words in Debian's DejaVu and Liberation fonts.
fonts:
	@test -f /usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf -a -f /usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf || \
	  { test "$$(id -u)" = 0 || { echo "the OCR tests need fonts: sudo apt-get install fonts-dejavu-core fonts-liberation" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core fonts-liberation >/dev/null; }

# The preview test draws in a real sixel terminal: xterm as a VT340 under Xvfb.
xterm:
	@command -v xterm >/dev/null && command -v Xvfb >/dev/null || { test "$$(id -u)" = 0 || { echo "the preview test needs xterm and Xvfb: sudo apt-get install xterm xvfb" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xterm xvfb >/dev/null; }

# The people tests find real faces in real photos: OpenCV's sample photos ship in Debian's opencv-doc.
facephotos:
	@test -f /usr/share/doc/opencv-doc/examples/data/messi5.jpg || { test "$$(id -u)" = 0 || { echo "the people tests need opencv-doc: sudo apt-get install opencv-doc" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends opencv-doc >/dev/null; }

# The docs' dupes recipe is run by jq itself (tests/test_dupes.py).
jq:
	@command -v jq >/dev/null || { test "$$(id -u)" = 0 || { echo "the dupes recipe test needs jq: sudo apt-get install jq" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; }

test: $(VENV)/.test-ready browser fonts xterm facephotos jq
	$(PY) -m ruff check src tests scripts benchmarks
	$(VENV)/bin/lint-imports
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet -d $(VENV)/site
	$(PY) -m pytest

# The docs site (MkDocs Material) on http://127.0.0.1:8000, rebuilt as pages change.
docs: $(VENV)/.test-ready
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
