# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo
export NO_ALBUMENTATIONS_UPDATE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

LOCK ?= requirements-lock.txt
LATEST_VENV ?= .venv-latest

.PHONY: demo test install test-latest lock clean-demo

# The tested set: every package pinned by $(LOCK) (pip constraints), checked for consistency.
$(VENV)/.installed: pyproject.toml setup.py $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --constraint $(LOCK) pip
	$(PY) -m pip install --constraint $(LOCK) -e ".[dev,jax]"
	$(PY) -m pip check
	touch $@

install: $(VENV)/.installed

# The main job on the built-in demo dataset (synthetic images in the real competition layout): make it, validate it,
# draw its statistics, split it, cache it resized, score a perturbed copy of the test truth (what an imperfect
# submission scores); then train the demo profile from random weights (both stages, a few minutes on 2 CPU cores;
# the loss curve's PNG path is printed), tune the post-processing on the validation split, predict the test images,
# check the submission, score it against the test truth and draw truth|prediction panels. Each run trains afresh:
# the previous run's model and predictions are removed first; the dataset is rewritten identically.
DEMO_TRAIN_IMAGES ?= 200
DEMO_TEST_IMAGES ?= 16
DEMO_LOGS := $(DEMO_DIR)/logs

demo: install
	$(PY) dataHandling.py make-demo --out $(DEMO_DIR) --train-images $(DEMO_TRAIN_IMAGES) \
		--test-images $(DEMO_TEST_IMAGES)
	$(PY) dataHandling.py validate --data-dir $(DEMO_DIR)
	$(PY) dataHandling.py stats --data-dir $(DEMO_DIR) --out $(DEMO_DIR)/stats
	$(PY) dataHandling.py split --data-dir $(DEMO_DIR) --val-fraction 0.2 --seed 0 --out $(DEMO_DIR)/split
	$(PY) dataHandling.py prepare --data-dir $(DEMO_DIR) --max-side 512 --out $(DEMO_DIR)/cache
	$(PY) dataHandling.py perturb --truth $(DEMO_DIR)/test_truth.csv --out $(DEMO_DIR)/test_perturbed.csv
	$(PY) dataHandling.py score --truth $(DEMO_DIR)/test_truth.csv --submission $(DEMO_DIR)/test_perturbed.csv
	rm -rf $(DEMO_LOGS) $(DEMO_DIR)/tuned.json $(DEMO_DIR)/tuned_detections $(DEMO_DIR)/submission.csv \
		$(DEMO_DIR)/submission.csv.journal $(DEMO_DIR)/panels
	$(PY) train.py --weights none --profile demo --data-dir $(DEMO_DIR) --split $(DEMO_DIR)/split \
		--image-dir $(DEMO_DIR)/cache/train --model-dir $(DEMO_LOGS)
	$(PY) predict.py tune --split $(DEMO_DIR)/split --data-dir $(DEMO_DIR) --image-dir $(DEMO_DIR)/cache/train \
		--weights last --model-dir $(DEMO_LOGS) --out $(DEMO_DIR)/tuned.json
	$(PY) predict.py $(DEMO_DIR)/test --weights last --model-dir $(DEMO_LOGS) --preset $(DEMO_DIR)/tuned.json \
		--out $(DEMO_DIR)/submission.csv
	$(PY) dataHandling.py check-submission --submission $(DEMO_DIR)/submission.csv --test-dir $(DEMO_DIR)/test
	$(PY) dataHandling.py score --truth $(DEMO_DIR)/test_truth.csv --submission $(DEMO_DIR)/submission.csv \
		--panels $(DEMO_DIR)/panels --image-dir $(DEMO_DIR)/test --worst $(DEMO_TEST_IMAGES)

# Both passes always run (a failure of the first does not hide the second); the exit status fails if either did.
define run_both_passes
	@tf=0; jax=0; \
	$(1) -m pytest || tf=$$?; \
	KERAS_BACKEND=jax $(1) -m pytest -m jax || jax=$$?; \
	echo "make test: TensorFlow pass exit $$tf, JAX pass exit $$jax"; \
	[ $$tf -eq 0 ] && [ $$jax -eq 0 ]
endef

# Tests: everything on the TensorFlow backend, then the JAX subset on the JAX backend.
test: install
	$(call run_both_passes,$(PY))

# The newest versions the ranges in pyproject.toml allow, in a fresh venv without the lock and without pip's cache:
# lists what differs from the lock, then runs both test passes on that set.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --no-cache-dir --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --no-cache-dir -e ".[dev,jax]"
	$(LATEST_VENV)/bin/python -m pip freeze --all --exclude-editable > $(LATEST_VENV)/freeze.txt
	@echo "versions that differ from $(LOCK) (< lock, > newest):"; \
	diff <(grep -v '^#' $(LOCK)) $(LATEST_VENV)/freeze.txt | grep '^[<>]' || echo "  none"
	$(call run_both_passes,$(LATEST_VENV)/bin/python)

# Refreshes the lock to the newest set, only once both passes have succeeded on it (a deliberate upgrade).
lock: test-latest
	{ grep '^#' $(LOCK); cat $(LATEST_VENV)/freeze.txt; } > $(LOCK).new && mv $(LOCK).new $(LOCK)
	@echo "$(LOCK) refreshed: review 'git diff $(LOCK)' and commit it"

clean-demo:
	rm -rf $(DEMO_DIR)
