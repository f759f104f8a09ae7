# One command to set up and run the demo, one to set up and run the tests.
# Needs only Python 3.11 (with venv and pip) and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint bench bench-quick wheel-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/cohortforge generate --num-records 1000 --scenario general_population \
		--seed 42 --output-dir output/demo --overwrite

lint: install
	$(BIN)/ruff check .

# pytest exits 5 when it collects no tests; make treats any non-zero exit as failure.
test: lint
	$(BIN)/pytest

test-slow: install
	$(BIN)/pytest -m slow

bench-quick: install
	$(BIN)/asv run --python=same --quick --show-stderr

bench: install
	$(BIN)/asv run --python=same --show-stderr

# Build the wheel, install it in a fresh venv and run the console script from there.
wheel-check: install
	rm -rf build dist output/wheel-venv
	$(BIN)/python -m build --wheel --outdir dist .
	$(PYTHON) -m venv output/wheel-venv
	output/wheel-venv/bin/pip install --quiet dist/cohortforge-*.whl
	cd output && wheel-venv/bin/cohortforge scenarios
	cd output && wheel-venv/bin/python -m cohortforge generate -n 500 --seed 1 \
		--output-dir wheel-smoke --overwrite --quiet
	test -f output/wheel-smoke/manifest.json

clean:
	rm -rf build dist output .asv .pytest_cache .ruff_cache
