"""A timed workload run by real matterport Mask R-CNN, inside the reference environment (Python 3.7, TF 1.15.5,
Keras 2.2.4, ``mrcnn`` from the registry package ``mrcnn-tf115``). Started by ``runner.py``, never imported by the
project.

    .env37/bin/python workload.py SPEC.json   -> one line of JSON on stdout

SPEC: ``task`` (detect | train_step | data_generator | predict), ``config`` (matterport Config attributes), ``weights`` (an h5 in
matterport's layout, loaded by name), ``data`` (an .npz: ``image_N`` arrays; ``masks_N`` [H, W, n] bool and
``class_ids_N`` for the training tasks; or, for data_generator, ``samples``: JPEG paths with RLE rows; predict: ``paths`` of JPEGs, ``out_size``), ``warmup``,
``repeats``, ``layers`` (train_step: heads | all).
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ARRAY_ATTRIBUTES = ("MEAN_PIXEL", "RPN_BBOX_STD_DEV", "BBOX_STD_DEV", "IMAGE_SHAPE")
LAYER_REGEX = {"heads": r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)", "all": ".*"}


def make_config(attributes):
    from mrcnn.config import Config

    values = {key: (np.array(value) if key in ARRAY_ATTRIBUTES else value) for key, value in attributes.items()}
    values.setdefault("NAME", "reference")
    config_class = type("ReferenceConfig", (Config,), values)
    return config_class()


def npz_dataset(data, classes):
    """A matterport Dataset over in-memory images and masks."""
    from mrcnn import utils

    class ArrayDataset(utils.Dataset):
        def load_image(self, image_id):
            return data["image_%d" % image_id]

        def load_mask(self, image_id):
            return data["masks_%d" % image_id], data["class_ids_%d" % image_id].astype(np.int32)

    dataset = ArrayDataset()
    for class_id in range(1, classes):  # every class of the config (the image meta holds one slot per class)
        dataset.add_class("bench", class_id, "class%d" % class_id)
    for index in range(count_images(data)):
        dataset.add_image("bench", index, None)
    dataset.prepare()
    return dataset


def rle_dataset(samples, classes):
    """A matterport Dataset over JPEG files with Kaggle RLE masks at native size: skimage reads the file, each RLE row
    is decoded run by run into a full-size mask (how the competition's matterport notebooks do it)."""
    import skimage.io
    from mrcnn import utils

    class RleDataset(utils.Dataset):
        def load_image(self, image_id):
            return skimage.io.imread(self.image_info[image_id]["path"])

        def load_mask(self, image_id):
            info = self.image_info[image_id]
            height, width = info["height"], info["width"]
            masks = np.zeros((height, width, len(info["rles"])), dtype=bool)
            for i, string in enumerate(info["rles"]):
                flat = np.zeros(height * width, dtype=bool)
                values = [int(v) for v in string.split()]
                for start, length in zip(values[0::2], values[1::2]):
                    flat[start - 1:start - 1 + length] = True
                masks[:, :, i] = flat.reshape((height, width), order="F")
            return masks, np.array(info["class_ids"], dtype=np.int32)

    dataset = RleDataset()
    for class_id in range(1, classes):
        dataset.add_class("bench", class_id, "class%d" % class_id)
    for index, sample in enumerate(samples):
        dataset.add_image("bench", index, sample["path"], height=sample["height"], width=sample["width"],
                          rles=sample["rles"], class_ids=sample["class_ids"])
    dataset.prepare()
    return dataset


def count_images(data):
    return len([key for key in data.files if key.startswith("image_")])


def timed(function, warmup, repeats):
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def run_detect(spec, config):
    import mrcnn.model as modellib

    model = modellib.MaskRCNN("inference", config, model_dir=spec.get("model_dir", "/tmp/matterport_logs"))
    model.load_weights(spec["weights"], by_name=True)
    data = np.load(spec["data"])
    images = [data["image_%d" % i] for i in range(count_images(data))]
    batch = config.BATCH_SIZE
    state = {"next": 0, "detections": []}

    def detect():
        chunk = [images[(state["next"] + i) % len(images)] for i in range(batch)]
        state["next"] += batch
        results = model.detect(chunk, verbose=0)
        state["detections"].extend(len(r["class_ids"]) for r in results)

    seconds = timed(detect, spec.get("warmup", 1), spec.get("repeats", 3))
    return {"seconds": seconds, "images_per_call": batch, "detections_per_image": float(np.mean(state["detections"]))}


def run_train_step(spec, config):
    import mrcnn.model as modellib

    model = modellib.MaskRCNN("training", config, model_dir=spec.get("model_dir", "/tmp/matterport_logs"))
    model.load_weights(spec["weights"], by_name=True)
    layers = spec.get("layers", "all")
    model.set_trainable(LAYER_REGEX.get(layers, layers), verbose=0)
    model.compile(config.LEARNING_RATE, config.LEARNING_MOMENTUM)
    dataset = npz_dataset(np.load(spec["data"]), config.NUM_CLASSES)
    generator = modellib.data_generator(dataset, config, shuffle=False, batch_size=config.BATCH_SIZE)
    inputs, outputs = next(generator)
    build_start = time.perf_counter()
    model.keras_model.train_on_batch(inputs, outputs)
    first = time.perf_counter() - build_start
    seconds = timed(lambda: model.keras_model.train_on_batch(inputs, outputs), spec.get("warmup", 0),
                    spec.get("repeats", 2))
    return {"seconds": seconds, "first_step_seconds": first, "images_per_call": config.BATCH_SIZE}


def run_data_generator(spec, config):
    import mrcnn.model as modellib

    dataset = rle_dataset(spec["samples"], config.NUM_CLASSES)
    np.random.seed(0)
    generator = modellib.data_generator(dataset, config, shuffle=False, batch_size=config.BATCH_SIZE)
    count = len(spec["samples"]) // config.BATCH_SIZE
    next(generator)  # warm-up: anchors, imports
    seconds = timed(lambda: next(generator), 0, count)
    return {"seconds": seconds, "images_per_call": config.BATCH_SIZE}


def rle_encode(mask):
    """Kaggle RLE (column-major, 1-based starts) of a boolean mask, the plain numpy way."""
    flat = np.concatenate([[0], mask.flatten(order="F").astype(np.int8), [0]])
    runs = np.where(flat[1:] != flat[:-1])[0] + 1
    runs[1::2] -= runs[0::2]
    return " ".join(str(x) for x in runs)


def run_predict(spec, config):
    """JPEG file -> submission rows: skimage reads it, detect() pastes each mask at full resolution, each mask is
    resized to the submission grid (nearest) and encoded."""
    import skimage.color
    import skimage.io
    import skimage.transform
    import mrcnn.model as modellib

    model = modellib.MaskRCNN("inference", config, model_dir=spec.get("model_dir", "/tmp/matterport_logs"))
    model.load_weights(spec["weights"], by_name=True)
    paths, size = spec["paths"], spec.get("out_size", 512)
    state = {"next": 0, "rows": 0}

    def predict_one():
        image = skimage.io.imread(paths[state["next"] % len(paths)])
        if image.ndim != 3:  # as matterport's Dataset.load_image: grayscale to RGB, alpha dropped
            image = skimage.color.gray2rgb(image)
        image = image[..., :3]
        state["next"] += 1
        result = model.detect([image], verbose=0)[0]
        for i in range(result["masks"].shape[2]):
            mask = skimage.transform.resize(result["masks"][:, :, i], (size, size), order=0, preserve_range=True,
                                            anti_aliasing=False, mode="constant") > 0.5
            rle_encode(mask)
            state["rows"] += 1

    seconds = timed(predict_one, spec.get("warmup", 1), spec.get("repeats", len(paths)))
    return {"seconds": seconds, "images_per_call": 1, "rows_per_image": state["rows"] / max(state["next"], 1)}


TASKS = {"detect": run_detect, "predict": run_predict, "train_step": run_train_step, "data_generator": run_data_generator}


def main():
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    import keras
    import tensorflow as tf

    config = make_config(spec["config"])
    result = TASKS[spec["task"]](spec, config)
    result.update({"task": spec["task"], "tensorflow": tf.__version__, "keras": keras.__version__})
    print("WORKLOAD_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
