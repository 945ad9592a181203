# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv and install daftrl (editable, with the dev, ray, sb3, tensorboard and wandb extras: the tests run
# a grid on Ray, import an SB3 expert and log to TensorBoard and W&B offline) when
# it is missing or pyproject.toml changed; nothing is reinstalled when nothing changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
TASK   ?= halfcheetah-broken-back-thigh
METHOD ?= daft
PYTEST_ARGS ?=
TEST_WORKERS ?= auto

.PHONY: demo test test-slow lint results-doc render-deps clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,ray,sb3,tensorboard,wandb]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/daftrl demo --task $(TASK) --method $(METHOD)

# one pytest worker per core (pytest-xdist); an idle worker takes tests queued for a busy one (worksteal), so a few
# long tests at the end do not leave a core idle; TEST_WORKERS=0 runs in this process (e.g. for --pdb).
# The default suite is mostly compiling small jitted functions that then run a few steps: XLA's CPU backend compiles
# them with LLVM's cheap pipeline (TEST_XLA_FLAGS, put before any XLA_FLAGS of yours; `make test TEST_XLA_FLAGS=` for
# XLA's defaults). Only speed changes, and `make test-slow` (the long learning runs, where optimised code pays) keeps
# the defaults, so CI runs both.
TEST_XLA_FLAGS ?= --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true
test: $(STAMP)
	XLA_FLAGS="$(strip $(TEST_XLA_FLAGS) $(XLA_FLAGS))" $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# docs/results.md and its figures from the committed results store (a test checks the committed file is current)
results-doc: $(STAMP)
	$(VENV)/bin/daftrl report results --out docs/results.md

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

# Headless rendering for `daftrl tasks render`, `daftrl eval --video` and `daftrl demo --video`: EGL with Mesa's
# software renderer (MUJOCO_GL=egl, the default daftrl picks). Debian/Ubuntu packages; needs root or sudo. OSMesa
# (libosmesa6, MUJOCO_GL=osmesa) is the fallback. The MP4 encoder (ffmpeg) comes with the imageio-ffmpeg wheel.
# Installed packages are not upgraded (--no-upgrade). The last line renders a frame: the target fails unless that works.
render-deps: $(STAMP)
	@command -v apt-get >/dev/null || { echo "apt-get not found: install libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0"; exit 1; }
	$$(command -v sudo || true) apt-get install -y -q --no-upgrade libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 >/dev/null
	$(PY) -c "from daftrl.envs.render import check_headless_gl; print('headless rendering works: MUJOCO_GL=' + check_headless_gl())"

clean-venv:
	rm -rf $(VENV)
