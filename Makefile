# The two commands: `make run` (the console on its embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= 2

.PHONY: run test lint install mpi lock vendor clean bench

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

install: $(VENV)/.installed mpi

# MPI jobs run Debian's OpenMPI (mpirun; mpi4py's wheel loads its libmpi): installed where we are
# root with apt-get and mpirun is missing; elsewhere this says what to install, and their tests skip.
mpi:
	@command -v mpirun >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		{ apt-get install -y -qq --no-install-recommends openmpi-bin libopenmpi-dev >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends openmpi-bin libopenmpi-dev; }; }
	@command -v mpirun >/dev/null || echo "make: mpirun is missing, so the MPI job tests skip:" \
		"install Debian's openmpi-bin and libopenmpi-dev (sudo apt-get install openmpi-bin libopenmpi-dev)" >&2

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap
	$(PY) manage.py runconsole

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint mpi
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-check-only} $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# Re-resolve requirements.in into the pinned requirements.lock.
lock:
	rm -rf /tmp/mlplatform-lock && $(PYTHON) -m venv /tmp/mlplatform-lock
	/tmp/mlplatform-lock/bin/pip install --quiet --upgrade pip
	/tmp/mlplatform-lock/bin/pip install --quiet -r requirements.in
	{ echo '# Pinned by `make lock` from requirements.in; `make run` and `make test` install exactly this.'; \
	  /tmp/mlplatform-lock/bin/pip freeze --all | grep -vE '^pip=='; } > requirements.lock

vendor:
	scripts/vendor-assets.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The benchmarks, each printing one JSON object (see benchmarks/). benchmarks.prediction loads its
# servers with wrk: installed from Debian's packages where apt-get is and wrk is not (as root, else
# through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench: install
	@command -v wrk >/dev/null || ! command -v apt-get >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	$(PY) -m benchmarks.admission
	$(PY) -m benchmarks.sync
	$(PY) -m benchmarks.forwarder
	$(PY) -m benchmarks.notebooks
	$(PY) -m benchmarks.prediction
	$(PY) -m benchmarks.batch_prediction
	$(PY) -m benchmarks.tuning
