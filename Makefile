# silk-awsvpc front door.  `make demo` and `make test` are the two set-up
# commands of the README; the rest are for developers.
PYTHON ?= python3
PIP     = $(PYTHON) -m pip --disable-pip-version-check
SAMPLES = share/samples
DEMO    = build/demo

.PHONY: all build install test-deps test check lint man ubsan bench demo regen dist clean

all: build

build install:
	$(PIP) install -q -e .
	@# .pyc files, as a regular install writes them (an editable one does not)
	$(PYTHON) -m compileall -q pysilk_ext

test-deps:
	$(PIP) install -q -e '.[test]'
	@# python-lzo (optional) makes LZO1X output byte-identical to SiLK's and
	@# 25x faster than lzallright; it needs liblzo2's headers to build.
	@if [ -f /usr/include/lzo/lzo1x.h ]; then $(PIP) install -q python-lzo || true; fi

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

# The whole pipeline on the bundled samples: what the logs hold, the
# context map (when rwvpcmapbuild is installed), the conversion into a
# repository under $(DEMO)/repo with its statistics, and -- with SiLK on
# PATH -- the int2aws/aws2int flows read back by rwfilter and rwcut.
demo: build
	@rm -rf $(DEMO); mkdir -p $(DEMO)
	rwvpcstats $(SAMPLES)
	@if command -v rwvpcmapbuild >/dev/null 2>&1; then \
	  echo "rwvpcmapbuild --output-path=$(DEMO)/cloud.vpcmap $(SAMPLES)"; \
	  rwvpcmapbuild --output-path=$(DEMO)/cloud.vpcmap $(SAMPLES); \
	else echo "rwvpcmapbuild not installed: converting without a map"; fi
	rwvpc2silk --action=all --root-directory=$(DEMO)/repo \
	  $$(test -f $(DEMO)/cloud.vpcmap && echo --map=$(DEMO)/cloud.vpcmap) \
	  --print-statistics=stdout --no-progress $(SAMPLES)
	@if command -v rwfilter >/dev/null 2>&1; then \
	  echo "rwfilter --type=int2aws,aws2int ... | rwcut"; \
	  rwfilter --data-rootdir=$(DEMO)/repo \
	    --site-config-file=$(DEMO)/repo/silk.conf \
	    --type=int2aws,aws2int --start-date=2023/07/26 \
	    --end-date=2026/08/01 --all-destination=stdout \
	  | rwcut --site-config-file=$(DEMO)/repo/silk.conf \
	    --fields=sip,dip,dport,protocol,sensor,type --num-recs=5; fi

# Rewrite the generated parts of the man pages (rwvpc2silk's field table).
regen:
	$(PYTHON) -m pysilk_ext.cli._manpage

dist:
	$(PYTHON) -m pip wheel --no-deps -w dist .

clean:
	rm -rf build dist *.egg-info pysilk_ext/_*.so pysilk_ext/_*.c .pytest_cache
