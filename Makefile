# The commands a new user needs:  make demo     (the whole pipeline on a public-domain corpus)
#                                 make jinyong NOVELS=<folder>  (the CPU recipe on your own novels)
#                                 make test     (the test suite; make test-fast: the everyday tier)
PYTHON ?= python3
# torch is installed first, on its own: 2.13.0 when none is installed yet (its CPU build is what a
# CPU-only machine needs; on a CUDA machine pip picks the CUDA build of the same release).
TORCH ?= torch==2.13.0

.PHONY: install install-dev browser demo jinyong test test-fast
NOVELS ?= data/jinyong/raw

install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q "$(TORCH)"
	$(PYTHON) -m pip install -q -r requirements.txt

# llama-cpp-python (export.py's GGUF check) compiles llama.cpp from source: the library alone is built, not
# its multimodal library, tools, examples or tests. Set CMAKE_ARGS for another build (e.g. -DGGML_CUDA=on).
CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF

install-dev: install
	CMAKE_ARGS="$(CMAKE_ARGS)" $(PYTHON) -m pip install -q -r requirements-dev.txt

# the arena test drives a real browser: Chromium and its driver from the system packages (Debian, Ubuntu)
browser:
	@command -v chromedriver >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei; } || \
	  echo "The arena test needs Chromium: sudo apt-get install chromium chromium-driver fonts-wqy-microhei"

demo: install
	bash demo.sh

jinyong: install
	NOVELS="$(NOVELS)" PYTHON="$(PYTHON)" bash jinyong.sh

test: install-dev browser
	$(PYTHON) -m pytest -q tests

test-fast: install-dev
	$(PYTHON) -m pytest -q -m "not slow" tests
