"""Data-parallel training gives the same weight update as one device on the same global batch.

TensorFlow (logical CPUs) and JAX (``--xla_force_host_platform_device_count``) must be told about devices before they
initialise, so each case runs in a fresh Python process (bounded by a timeout) that prints its results as JSON.
TensorFlow: ``MirroredStrategy`` over 2 logical CPUs; JAX (in the JAX pass only): ``DataParallel`` over 2 host devices.
"""

import json
import os
import subprocess
import sys
import socket
import textwrap

import keras
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# One SGD step of "all" layers on a global batch of two images with different instance counts (so the replicas'
# loss denominators differ), from the same initial weights, once on one device and once on two replicas; gradient
# clipping is made active (tiny GRADIENT_CLIP_NORM) so that it must see the whole batch's gradients. The sampling of
# ROIs is made deterministic for the comparison (shuffle=False); TensorFlow also checks that random sampling runs.
TENSORFLOW_DEVICES = textwrap.dedent('''
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    DEVICES = ["/cpu:0", "/cpu:1"]
''')
JAX_DEVICES = "DEVICES = None\n"  # every device: XLA_FLAGS gives two

SETUP = textwrap.dedent('''
    import json, os, sys
    import keras
    import numpy as np
    from fashion_seg.mrcnn.config import Config
    from fashion_seg.mrcnn.dataset import Dataset
    from fashion_seg.mrcnn.distribute import make_distribution
    from fashion_seg.mrcnn.model import MaskRCNN
    from fashion_seg.mrcnn.weights import load_weights, save_weights

    class TinyConfig(Config):
        NAME = "mirrored"; NUM_CLASSES = 3; BACKBONE = "resnet_tiny"; IMAGE_MIN_DIM = 128; IMAGE_MAX_DIM = 128
        RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128); TOP_DOWN_PYRAMID_SIZE = 16; RPN_CONV_FILTERS = 16
        FPN_CLASSIF_FC_LAYERS_SIZE = 32; MASK_HEAD_FILTERS = 16; IMAGES_PER_GPU = 1; GPU_COUNT = 2
        PRE_NMS_LIMIT = 400; POST_NMS_ROIS_TRAINING = 100; POST_NMS_ROIS_INFERENCE = 100
        RPN_TRAIN_ANCHORS_PER_IMAGE = 64
        TRAIN_ROIS_PER_IMAGE = 24; MAX_GT_INSTANCES = 4; MINI_MASK_SHAPE = (28, 28); STEPS_PER_EPOCH = 1
        GRADIENT_CLIP_NORM = 0.05

    class Shapes(Dataset):
        def __init__(self):
            super().__init__()
            self.add_class("toy", 1, "square"); self.add_class("toy", 2, "bar")
            self.scenes = []
            rng = np.random.default_rng(0)
            for boxes in ([(8, 8, 120, 100, 1)], [(0, 0, 64, 128, 2), (64, 0, 128, 128, 1), (80, 80, 110, 90, 2)]):
                image = rng.uniform(0, 80, (128, 128, 3)).astype(np.uint8)
                masks = np.zeros((128, 128, len(boxes)), bool)
                for k, (y1, x1, y2, x2, _) in enumerate(boxes):
                    masks[y1:y2, x1:x2, k] = True
                    image[y1:y2, x1:x2] = [200, 60 * k, 50]
                self.scenes.append((image, masks, np.array([b[-1] for b in boxes], np.int32)))
                self.add_image("toy", len(self.scenes), None)
            self.prepare()
        def load_image(self, i): return self.scenes[i][0]
        def load_mask(self, i): return self.scenes[i][1], self.scenes[i][2]
''')
CASE = SETUP + textwrap.dedent('''
    def train_once(strategy, initial, shuffle):
        distribution = make_distribution(strategy, devices=DEVICES if strategy == "mirrored" else None)
        with distribution.scope():
            # the same global batch of 2 images: 2 on one device, or 1 per replica
            replicas = distribution.num_replicas
            model = MaskRCNN("training", TinyConfig(GPU_COUNT=replicas, IMAGES_PER_GPU=2 // replicas),
                             sys.argv[1] + "/" + strategy)
        model.keras_model.get_layer("proposal_targets").shuffle = shuffle
        load_weights(model.keras_model, initial)
        logs = model.train(Shapes(), None, learning_rate=0.05, epochs=1, layers="all", verbose=0).history
        weights = [np.asarray(w) for w in model.keras_model.weights]
        return model, weights, distribution, {k: float(v[0]) for k, v in logs.items()}

    keras.utils.set_random_seed(0)
    start = MaskRCNN("training", TinyConfig(), sys.argv[1]).keras_model
    initial = sys.argv[1] + "/initial.h5"
    save_weights(start, initial)
    _, one, _, one_logs = train_once("one", initial, False)
    model, two, distribution, two_logs = train_once("mirrored", initial, False)
    moved = max(float(np.abs(a - np.asarray(b)).max()) for a, b in zip(one, start.weights))
    difference = max(float(np.abs(a - b).max()) for a, b in zip(one, two))
    shuffled_logs = train_once("mirrored", initial, True)[3] if sys.argv[2] == "shuffled-too" else {}
    print(json.dumps({"replicas": distribution.num_replicas, "one": one_logs, "two": two_logs,
                      "difference": difference, "moved": moved, "checkpoint": model.find_last(),
                      "shuffled": shuffled_logs}))
''')


# One process per worker of a 2-worker MultiWorkerMirroredStrategy cluster on 127.0.0.1 (TF_CONFIG): the same step
# on 1 image per worker; only the chief writes the checkpoint.
WORKER = SETUP + textwrap.dedent('''
    keras.utils.set_random_seed(0)
    distribution = make_distribution("multiworker")
    with distribution.scope():
        model = MaskRCNN("training", TinyConfig(GPU_COUNT=2, IMAGES_PER_GPU=1), sys.argv[1])
    model.keras_model.get_layer("proposal_targets").shuffle = False
    logs = model.train(Shapes(), None, learning_rate=0.05, epochs=1, layers="all", verbose=0).history
    checkpoints = [os.path.join(d, f) for d, _, files in os.walk(sys.argv[1]) for f in files if f.endswith(".h5")]
    print(json.dumps({"replicas": distribution.num_replicas, "logs": {k: float(v[0]) for k, v in logs.items()},
                      "weights": [float(np.asarray(w, np.float64).sum()) for w in model.keras_model.weights],
                      "checkpoints": checkpoints}))
''')


def _run(script, tmp_path, env_extra, extra_argument):
    path = tmp_path / "case.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2", **env_extra}
    done = subprocess.run([sys.executable, str(path), str(tmp_path), extra_argument], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_same_update(result):
    assert result["replicas"] == 2
    for name, value in result["one"].items():
        assert result["two"][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    # clipping is active: no weight moves by more than learning rate x clip norm, and the two runs agree far closer
    assert 1e-5 < result["moved"] <= 0.05 * 0.05 * 1.001
    assert result["difference"] < 1e-3 * result["moved"]
    assert os.path.exists(result["checkpoint"])


def test_mirrored_strategy_on_two_cpus_matches_one_device(tmp_path):
    result = _run(TENSORFLOW_DEVICES + CASE, tmp_path, {"KERAS_BACKEND": "tensorflow"}, "shuffled-too")
    _check_same_update(result)
    assert all(value == value for value in result["shuffled"].values())  # random sampling runs too (no NaN)


@pytest.mark.jax
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's data parallelism is tested in the JAX pass")
def test_data_parallel_on_two_jax_devices_matches_one_device(tmp_path):
    env = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    _check_same_update(_run(JAX_DEVICES + CASE, tmp_path, env, "compare-only"))


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="MultiWorkerMirroredStrategy is TensorFlow's")
def test_multiworker_strategy_with_two_processes_on_localhost(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow",
               "TF_CONFIG": tf_config}
        workers.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / f"worker{index}")],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=600)
            assert worker.returncode == 0, err[-4000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            worker.kill()
    chief, other = results
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["logs"] == pytest.approx(other["logs"], rel=1e-5)
    assert all(np.isfinite(value) for value in chief["logs"].values())
    assert chief["weights"] == pytest.approx(other["weights"], rel=1e-6, abs=1e-6)  # in sync after the step
    assert [os.path.basename(p) for p in chief["checkpoints"]] == ["mask_rcnn_mirrored_0001.h5"]
    assert other["checkpoints"] == []  # only the chief writes
