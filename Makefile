# Every target creates (once) and reuses the local virtual environment .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)


sort-reverse = $(shell ls notebooks/*.ipynb | sort -r)

.PHONY: setup run lab test test-external lint typecheck test-py test-notebooks nb-clean nb-refresh \
        bench migrate-create migrate-up migrate-down migrate-history migrate-current \
        db-start db-stop db-status

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	@# Build matplotlib's font cache now: its one-time notice on stderr would
	@# break strict nbval on a fresh machine.
	$(BIN)/python -c "import matplotlib.font_manager"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

## The main job: every notebook, headless, on the embedded database.
run: setup
	$(BIN)/dashtam-nb notebooks

lab: setup
	$(BIN)/jupyter lab notebooks/

## The whole test suite: lint, types, notebook hygiene, tests, notebooks (strict nbval).
test: setup lint typecheck
	$(BIN)/python -m nbstripout --keep-output --keep-count --verify notebooks/*.ipynb
	$(BIN)/python -m pytest tests
	@# Reverse order on purpose: each notebook must start from its own known state.
	NBVAL=1 $(BIN)/python -m pytest --nbval $(sort-reverse) --nbval-sanitize-with notebooks/nbval_sanitize.cfg
	$(MAKE) --no-print-directory test-external

## Integration tests again, against a second, separately started server via DATABASE_URL.
EXTERNAL := $(CURDIR)/.dashtam/external
test-external: setup
	DASHTAM_DATA_DIR=$(EXTERNAL) $(BIN)/dashtam-nb db start
	DATABASE_URL="$$(DASHTAM_DATA_DIR=$(EXTERNAL) $(BIN)/dashtam-nb db url --show-password)" \
	  $(BIN)/python -m pytest tests/integration -q -m integration; \
	  status=$$?; DASHTAM_DATA_DIR=$(EXTERNAL) $(BIN)/dashtam-nb db stop; exit $$status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

nb-clean: setup
	$(BIN)/python -m nbstripout --keep-output --keep-count --extra-keys "metadata.language_info.version" notebooks/*.ipynb

nb-refresh: setup
	NBVAL=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace notebooks/*.ipynb
	$(MAKE) nb-clean

bench: setup
	$(BIN)/python -m benchmarks

migrate-create: setup
	@test -n "$(NAME)" || (echo 'usage: make migrate-create NAME="add_x"'; exit 2)
	$(BIN)/dashtam-nb migrate create "$(NAME)"

migrate-up: setup
	$(BIN)/dashtam-nb migrate up

migrate-down: setup
	$(BIN)/dashtam-nb migrate down

migrate-history: setup
	$(BIN)/dashtam-nb migrate history

migrate-current: setup
	$(BIN)/dashtam-nb migrate current

db-start: setup
	$(BIN)/dashtam-nb db start

db-stop: setup
	$(BIN)/dashtam-nb db stop

db-status: setup
	$(BIN)/dashtam-nb db status
