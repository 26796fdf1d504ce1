# hedgesim: `make run` and `make test` set everything up themselves on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/default.toml

.PHONY: install run test bench clean clean-cache docs docs-examples docs-check docs-generate

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,distributed,report]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/hedgesim run $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the documentation site (docs/writing-docs.md): mkdocs build --strict into site/
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --clean

# every marked example of README.md and docs/ run again and rewritten (slow: 1M-path runs)
docs-examples: $(STAMP)
	$(BIN)/python -m tools.docs_examples

# CI: the cheap examples re-run and compared; fails with a diff
docs-check: $(STAMP)
	$(BIN)/python -m tools.docs_examples --check

# the reference tables generated from the code (config keys, output variables, CLI help)
docs-generate: $(STAMP)
	$(BIN)/python -m tools.docs_generated

bench: $(STAMP)
	$(BIN)/python -m benchmarks --docs

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis site

# numba keys its cache on the file of each compiled entry point: after editing a module whose
# functions the kernel inlines (sim/kernel, sim/instruments, sim/market), drop the cache
clean-cache:
	find sim -name '*.nbi' -delete; find sim -name '*.nbc' -delete
