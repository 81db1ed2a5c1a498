"""The attribute head learns what it can see: on a tiny synthetic set of blobs, blue or orange (attribute 0, "blue")
and plain or striped (attribute 1, "striped"), a short training run predicts both attributes of new blobs well above
chance. Every annotated blob also carries attribute 2 ("blob"), so that an orange plain blob, alone in its image, is
known to be neither blue nor striped (without any attribute it would be unknown, by the rule of
:mod:`fashion_seg.data.attributes`). Two more images are annotated without attributes: unknown, their attribute loss
is masked.

Seeded; the figures of the seeded run are in the assertions' comments, asserted with a margin.
"""

import keras
import numpy as np
import pytest

from fashion_seg.data.attributes import AttributeTargets
from fashion_seg.data.labels import LabelDescriptions
from fashion_seg.mrcnn.dataset import Dataset
from fashion_seg.mrcnn.model import MaskRCNN
from tiny_network import TinyNetworkConfig

BLUE, ORANGE = (40, 90, 220), (230, 130, 30)
LABELS = LabelDescriptions(categories=({"id": 0, "name": "blob", "supercategory": "", "level": 1},),
                           attributes=({"id": 0, "name": "blue", "supercategory": "colour", "level": 1},
                                       {"id": 1, "name": "striped", "supercategory": "pattern", "level": 1},
                                       {"id": 2, "name": "blob", "supercategory": "shape", "level": 1}))


class BlobConfig(TinyNetworkConfig):
    NAME = "blobs"
    NUM_CLASSES = 2
    IMAGES_PER_GPU = 2
    MAX_GT_INSTANCES = 4
    MINI_MASK_SHAPE = (28, 28)
    DETECTION_MIN_CONFIDENCE = 0.5
    STEPS_PER_EPOCH = 25
    TRAIN_BN = None  # batch statistics: the network starts from random weights (as the demo profile)
    ATTRIBUTE_HEAD = True
    NUM_ATTRIBUTES = 3
    ATTRIBUTE_LOSS_WEIGHT = 3.0  # the class and box losses dominate the first steps otherwise


def blob(rng, blue: bool, striped: bool):
    """A 112x128 image of dark noise with one ellipse: ``(image, mask)``."""
    image = rng.uniform(0, 50, (112, 128, 3)).astype(np.uint8)
    rows, cols = np.mgrid[:112, :128]
    cy, cx = rng.uniform(40, 72), rng.uniform(40, 88)
    mask = ((rows - cy) / rng.uniform(22, 32)) ** 2 + ((cols - cx) / rng.uniform(24, 36)) ** 2 <= 1
    image[mask] = BLUE if blue else ORANGE
    if striped:
        image[mask & ((rows // 8) % 2 == 0)] = (245, 245, 245)  # 8-pixel bands: coarse enough for P3/P4
    return image, mask


class BlobDataset(Dataset):
    """Blobs with every combination of the two attributes; ``unknown`` more images annotated without any."""

    def __init__(self, count: int, seed: int, unknown: int = 0):
        super().__init__()
        self.labels = LABELS
        self.add_class("blobs", 1, "blob")
        rng = np.random.default_rng(seed)
        self.images = []
        for index in range(count + unknown):
            blue, striped = bool(index % 2), bool((index // 2) % 2)
            image, mask = blob(rng, blue, striped)
            attributes = () if index >= count else tuple(a for a, on in ((0, blue), (1, striped), (2, True)) if on)
            self.images.append((image, mask))
            self.add_image("blobs", index, None, category_ids=np.array([0]), attribute_ids=(attributes,),
                           truth=(blue, striped))
        self.prepare()

    def attribute_targets(self):
        return AttributeTargets(self)

    def load_image(self, image_id):
        return self.images[image_id][0]

    def load_mask(self, image_id):
        return self.images[image_id][1][..., None], np.array([1], np.int32)


def f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    hits = float((predicted & truth).sum())
    return 2 * hits / max(float(predicted.sum() + truth.sum()), 1.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = MaskRCNN("training", BlobConfig(), tmp_path_factory.mktemp("logs"))
    data = BlobDataset(24, seed=0, unknown=2)
    targets = AttributeTargets(data)
    assert targets(24)[1].tolist() == [False] and targets(0)[1].tolist() == [True]  # unknown: masked
    history = model.train(data, None, learning_rate=0.01, epochs=16, layers="all", verbose=0)
    inference = MaskRCNN("inference", BlobConfig(), model.model_dir)
    inference.load_weights(model.find_last(), by_name=True)
    return inference, history.history


@pytest.mark.jax
def test_the_head_learns_colour_and_stripes_of_new_blobs(trained):
    model, logs = trained
    assert logs["mrcnn_attr_loss"][-1] < logs["mrcnn_attr_loss"][0]
    test = BlobDataset(16, seed=1)
    predicted, truth = [], []
    for image_id in test.image_ids:
        result = model.detect([test.load_image(image_id)])[0]
        found = result["attributes"][0] >= 0.5 if len(result["scores"]) else np.zeros(3, bool)
        predicted.append(found[:2])
        truth.append(test.image_info[image_id]["truth"])
    predicted, truth = np.array(predicted), np.array(truth)
    scores = [f1(predicted[:, column], truth[:, column]) for column in range(2)]
    # chance: guessing gives F1 0.5, "yes" for every blob 0.67 on these balanced attributes. The seeded runs (400
    # steps): TensorFlow 1.0 (colour) and 1.0 (stripes), JAX 1.0 and 1.0; after 200 steps JAX on an Intel Xeon
    # had only 0.70 and 0.67, TensorFlow 1.0 and 0.94.
    assert scores[0] >= 0.75, scores
    assert scores[1] >= 0.75, scores
