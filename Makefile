# Every target creates (once) and reuses the local virtual environment .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)


sort-reverse = $(shell ls notebooks/*.ipynb | sort -r)

.PHONY: setup install nb-filter run lab test test-external lint typecheck test-py test-notebooks nb-clean nb-refresh \
        bench test-core test-faults migrate-create migrate-up migrate-down migrate-history migrate-current migrate-stamp \
        db-start db-stop db-status

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	@# Build matplotlib's font cache now: its one-time notice on stderr would
	@# break strict nbval on a fresh machine.
	$(BIN)/python -c "import matplotlib.font_manager"
	@# The notebooks' kernel is this venv's interpreter, by absolute path, so
	@# Lab never starts a kernel without the package (same name and title as
	@# the notebooks' saved kernelspec, so saving changes nothing).
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## Notebooks are committed as nbstripout cleans them: outputs and counts kept,
## the metadata an editor writes on save dropped (nbstripout's own list plus these;
## the same list as dashtam_nb.save_hook.VOLATILE, which Lab's saves apply).
NB_VOLATILE := metadata.language_info.version metadata.vscode metadata.toc metadata.varInspector \
  metadata.celltoolbar metadata.interpreter metadata.colab cell.metadata.jupyter cell.metadata.trusted \
  cell.metadata.editable cell.metadata.deletable cell.metadata.pycharm cell.metadata.vscode
NB_STRIP = "$(abspath $(BIN))/python" -m nbstripout --keep-output --keep-count
NB_REPO ?= $(CURDIR)

install: $(STAMP) nb-filter

## Ready to work interactively: the venv, the git filter, the embedded server
## kept running (dashtam-nb db stop stops it) with its working database migrated
## to head, then the doctor's report. With DATABASE_URL set, only the report.
## make run/test need only install: their server starts on first use and stops
## with the last process.
setup: install
	$(if $(DATABASE_URL),,$(BIN)/dashtam-nb db start && $(BIN)/dashtam-nb migrate up)
	$(BIN)/dashtam-nb doctor

## The git filter: `git add`/`git diff` see a notebook as it will be committed,
## so opening and saving one in Lab leaves no diff (.gitattributes names it).
## Not nbstripout --install: that filter would strip every output.
nb-filter:
	@if git -C "$(NB_REPO)" rev-parse --git-dir >/dev/null 2>&1; then \
	  git -C "$(NB_REPO)" config filter.nbstripout.clean '$(NB_STRIP)' && \
	  git -C "$(NB_REPO)" config filter.nbstripout.smudge cat && \
	  git -C "$(NB_REPO)" config filter.nbstripout.extrakeys '$(NB_VOLATILE)' && \
	  git -C "$(NB_REPO)" config diff.ipynb.textconv '$(NB_STRIP) --textconv'; \
	fi

## The main job: every notebook, headless, on the embedded database.
run: install
	$(BIN)/dashtam-nb notebooks

## JupyterLab on the notebooks, on this machine only; stop it with Ctrl-C (twice) in this terminal.
LAB_PORT ?= 8888
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_CMD = $(BIN)/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
  --ServerApp.root_dir=notebooks --ContentsManager.pre_save_hook=dashtam_nb.save_hook.clean $(LAB_ROOT)
lab: install
	$(LAB_CMD)

## Each stream has its own pytest temp root, per checkout and outside it (tests
## need a tmp_path in no project): pytest re-tightens the shared
## /tmp/pytest-of-$$USER to 0700 whenever any session starts, which locks the
## embedded server's own user (as root) out of data dirs under it mid-initdb.
PYTEST_TMP := $(or $(TMPDIR),/tmp)/dashtam-pytest-$(shell id -u)-$(shell printf %s "$(CURDIR)" | cksum | cut -d' ' -f1)
.PHONY: pytest-tmp
pytest-tmp:
	@mkdir -p $(PYTEST_TMP)

## The whole test suite: lint, types, notebook hygiene, tests, notebooks (strict nbval).
## Four streams at once: the suite mostly waits (on servers, kernels, locks, a
## browser), not computes, so on 2 cores they overlap. Each stream's output is printed whole.
test: install lint typecheck
	$(MAKE) --no-print-directory -j4 --output-sync=target test-core test-faults test-external test-lab

## Notebook hygiene (tests/notebooks) checks each notebook as git commits it.
test-core: install pytest-tmp
	$(BIN)/python -m pytest --durations=15 --basetemp=$(PYTEST_TMP)/core tests/notebooks tests/integration

## Fault and security tests (each process its own killable server).
test-faults: install pytest-tmp
	$(BIN)/python -m pytest --durations=15 --basetemp=$(PYTEST_TMP)/faults tests/fault tests/security

## The fourth stream: the browser suite, then Dask on a LocalCluster, kernels, then
## every notebook under strict nbval (the streams end at about the same time).
.PHONY: test-lab
test-lab: test-browser
	$(BIN)/python -m pytest --durations=15 --basetemp=$(PYTEST_TMP)/dask tests/dask
	$(BIN)/python -m pytest --durations=15 --basetemp=$(PYTEST_TMP)/kernel tests/kernel
	@# Reverse order on purpose: each notebook must start from its own known state.
	NBVAL=1 $(BIN)/python -m pytest --basetemp=$(PYTEST_TMP)/nbval --nbval $(sort-reverse) --nbval-sanitize-with notebooks/nbval_sanitize.cfg

## The browser suite: `make lab` on a throwaway clone and the HTML pages, in Chromium.
.PHONY: browser test-browser
test-browser: install browser pytest-tmp
	$(BIN)/python -m pytest --durations=15 --basetemp=$(PYTEST_TMP)/browser tests/browser

## Chromium and its driver from the system's packages (never a browser download);
## apt only when missing, and only root can run it.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "Chromium is missing: as root, run apt-get install -y chromium chromium-driver"; exit 1; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

## Integration tests again, against a second, separately started server via DATABASE_URL
## (not those marked own_server: they start servers of their own and ignore it).
EXTERNAL := $(CURDIR)/.dashtam/external
test-external: install pytest-tmp
	@# The unit tests first (no server; here to balance the streams).
	$(BIN)/python -m pytest --durations=15 --basetemp=$(PYTEST_TMP)/unit tests/unit
	DASHTAM_DATA_DIR=$(EXTERNAL) $(BIN)/dashtam-nb db start
	DATABASE_URL="$$(DASHTAM_DATA_DIR=$(EXTERNAL) $(BIN)/dashtam-nb db url --show-password)" \
	  $(BIN)/python -m pytest --durations=15 --basetemp=$(PYTEST_TMP)/external tests/integration -q -m "integration and not own_server"; \
	  status=$$?; DASHTAM_DATA_DIR=$(EXTERNAL) $(BIN)/dashtam-nb db stop; exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

nb-clean: install
	$(NB_STRIP) --extra-keys "$(NB_VOLATILE)" notebooks/*.ipynb

nb-refresh: install
	NBVAL=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace notebooks/*.ipynb
	$(MAKE) nb-clean

## Every benchmark; the front_door peers come from the bench extra.
bench: install
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev,bench]"
	$(BIN)/python -m benchmarks

migrate-create: install
	@test -n "$(NAME)" || (echo 'usage: make migrate-create NAME="add_x"'; exit 2)
	$(BIN)/dashtam-nb migrate create "$(NAME)"

migrate-up: install
	$(BIN)/dashtam-nb migrate up

migrate-down: install
	$(BIN)/dashtam-nb migrate down

migrate-history: install
	$(BIN)/dashtam-nb migrate history

migrate-current: install
	$(BIN)/dashtam-nb migrate current

## Record a revision without running it, e.g. make migrate-stamp REV=head (PURGE=1: drop the recorded one first).
migrate-stamp: install
	@test -n "$(REV)" || (echo 'usage: make migrate-stamp REV=head [PURGE=1]'; exit 2)
	$(BIN)/dashtam-nb migrate stamp "$(REV)"$(if $(PURGE), --purge)

db-start: install
	$(BIN)/dashtam-nb db start

db-stop: install
	$(BIN)/dashtam-nb db stop

db-status: install
	$(BIN)/dashtam-nb db status
