# hedgesim: `make run` and `make test` set everything up themselves on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/default.toml

.PHONY: install run test bench clean clean-cache

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

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis

# numba keys its cache on the file of each compiled entry point: after editing a module whose
# functions the kernel inlines (sim/kernel, sim/instruments, sim/market), drop the cache
clean-cache:
	find sim -name '*.nbi' -delete; find sim -name '*.nbc' -delete
