# silk-awsvpc front door.  `make demo` and `make test` are the two set-up
# commands of the README; the rest are for developers.
PYTHON ?= python3
PIP     = $(PYTHON) -m pip --disable-pip-version-check
SAMPLES = share/samples
DEMO    = build/demo

.PHONY: all build install test-deps test check lint man ubsan bench demo dist clean

all: build

build install:
	$(PIP) install -q -e .

test-deps:
	$(PIP) install -q -e '.[test]'

# The README's test command (CI runs it through .ci/run).
test: test-deps
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest -n 2 $(PYTEST_ARGS)

check:
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy
	podchecker man/*.pod

man:
	mkdir -p build/man
	for pod in man/*.pod; do \
	  name=$$(basename $$pod .pod); \
	  sec=$$(sed -n 's/^=for section \([0-9]\).*/\1/p' $$pod); sec=$${sec:-1}; \
	  pod2man --center="pysilk_ext" --release="pysilk_ext $$($(PYTHON) -c 'import pysilk_ext;print(pysilk_ext.__version__)')" \
	    --section=$$sec --name=$$(echo $$name | tr a-z A-Z) $$pod build/man/$$name.$$sec; \
	done

ubsan:
	PSE_UBSAN=1 PSE_WERROR=1 $(PIP) install -q --no-build-isolation -e '.[test]'
	$(PYTHON) -m pytest $(PYTEST_ARGS)

bench: build
	$(PYTHON) benchmarks/run_all.py

demo: build
	@rm -rf $(DEMO); mkdir -p $(DEMO)
	rwvpcstats $(SAMPLES)

dist:
	$(PYTHON) -m pip wheel --no-deps -w dist .

clean:
	rm -rf build dist *.egg-info pysilk_ext/_*.so pysilk_ext/_*.c .pytest_cache
