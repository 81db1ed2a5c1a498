# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo
export NO_ALBUMENTATIONS_UPDATE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test install install-dev clean-demo

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev,jax]"
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

# Tests: everything on the TensorFlow backend, then the JAX subset on the JAX backend.
test: install
	$(PY) -m pytest
	KERAS_BACKEND=jax $(PY) -m pytest -m jax

clean-demo:
	rm -rf $(DEMO_DIR)
