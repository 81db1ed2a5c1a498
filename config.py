"""The fashion configuration and the training profiles of ``python train.py --profile NAME``.

``FashionConfig`` is matterport's ``Config`` (every attribute, same meaning) set for iMaterialist Fashion 2019: 46
categories + background, ResNet-101-FPN, 1024-pixel images. A profile adds the values of a machine or a recipe
and the training plan (stages, learning-rate schedule, augmentation, validation metric, data);
``python train.py profiles`` lists them. Any value can then be changed on the command line (``--set KEY=VALUE``,
``--stages``, ``--augmentation``, ...).
"""

from fashion_seg.mrcnn.config import Config
from fashion_seg.trainer.plan import Profile, TrainingPlan, parse_stages


class FashionConfig(Config):
    """matterport's defaults, set for fashion: 47 classes, ResNet-101, long side 1024 (``square`` mode)."""

    NAME = "fashion"
    NUM_CLASSES = 1 + 46  # background + the 46 categories of label_descriptions.json (attributes are not predicted)
    BACKBONE = "resnet101"
    IMAGE_RESIZE_MODE = "square"
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024
    # The real training images hold up to 74 masks (sleeves, pockets, shoes, ...); 100 keeps them all.
    MAX_GT_INSTANCES = 100
    DETECTION_MAX_INSTANCES = 100


#: The seed project's schedule: the new heads first, then everything at a tenth of the rate.
SEED_STAGES = parse_stages("heads:10,all:15:0.1")

PROFILES = {profile.name: profile for profile in (
    Profile(
        "gpu",
        "one GPU (e.g. an 80 GB H100): ResNet-101 at 1024x1024, 8 images per step; the seed project's stages and "
        "learning rate; an epoch is one pass over an 80/20 split of the 45,625 training images",
        config={"GPU_COUNT": 1, "IMAGES_PER_GPU": 8, "LEARNING_RATE": 2e-4, "STEPS_PER_EPOCH": 4563,
                "VALIDATION_STEPS": 1141},
        plan=TrainingPlan(stages=SEED_STAGES, augmentation="seed", val_fraction=0.2, val_metric_every=1,
                          val_metric_images=300),
    ),
    Profile(
        "dgx",
        "the seed project's 4x V100 32 GB DGX Station: 4 GPUs x 6 images, learning rate 2e-4, 1520 / 380 steps, 10 "
        "head epochs then 15 all-layer epochs at LR/10, ResNet-101, 1024 px, flip + shift/scale augmentation",
        config={"GPU_COUNT": 4, "IMAGES_PER_GPU": 6, "LEARNING_RATE": 2e-4, "STEPS_PER_EPOCH": 1520,
                "VALIDATION_STEPS": 380, "IMAGE_MIN_DIM": 1024, "IMAGE_MAX_DIM": 1024},
        plan=TrainingPlan(stages=SEED_STAGES, augmentation="seed", val_fraction=0.2, val_metric_every=1,
                          val_metric_images=300),
    ),
    Profile(
        "first_place",
        "the 1st place's recipe on one GPU: all layers for 20 epochs, linear warm-up over 500 steps from 1/3, "
        "x0.1 after epochs 10 and 18, gradient clip 35, multi-scale (short side 600-1200, long side <= 1900, "
        "cropped to the 1024 canvas), flip + brightness/contrast + JPEG + cutout; 450 validation images; its "
        "learning rate 0.03 for 16 images scaled to 4",
        config={"GPU_COUNT": 1, "IMAGES_PER_GPU": 4, "LEARNING_RATE": 0.03 * 4 / 16, "GRADIENT_CLIP_NORM": 35.0,
                "WEIGHT_DECAY": 1e-4, "STEPS_PER_EPOCH": 11294, "VALIDATION_STEPS": 113},
        plan=TrainingPlan(stages=parse_stages("all:20"), augmentation="first_place", cutout=True,
                          multiscale=(600, 1200, 1900), warmup_steps=500, warmup_factor=1 / 3, decay_epochs=(10, 18),
                          val_fraction=None, val_images=450, val_metric_every=2, val_metric_images=450),
    ),
    Profile(
        "demo",
        "small and fast on a CPU, for the demo dataset (dataHandling.py make-demo --out demo --train-images 200): "
        "a narrow ResNet from random weights at 256x256, 4 images per step, 1,600 steps (1 heads epoch, then all "
        "layers with the rate cut tenfold for the last 6 epochs); about 4.5 minutes on 2 cores",
        config={"BACKBONE": "resnet_tiny", "IMAGE_MIN_DIM": 256, "IMAGE_MAX_DIM": 256,
                # matterport's 32-512 px anchors at 1024 px, scaled with the image
                "RPN_ANCHOR_SCALES": (8, 16, 32, 64, 128), "TOP_DOWN_PYRAMID_SIZE": 64, "RPN_CONV_FILTERS": 64,
                "FPN_CLASSIF_FC_LAYERS_SIZE": 256, "MASK_HEAD_FILTERS": 32, "IMAGES_PER_GPU": 4,
                # From random weights BatchNorm must normalise with batch statistics (matterport's TRAIN_BN=None):
                # frozen at their initial values, the features are not normalised at all, and the heads collapse to
                # predicting the background everywhere (validation metric 0).
                "TRAIN_BN": None,
                "PRE_NMS_LIMIT": 1000, "POST_NMS_ROIS_TRAINING": 300, "POST_NMS_ROIS_INFERENCE": 200,
                # 32 ROIs (10 positives) per image: the mask head is most of a step's time on a CPU
                "RPN_TRAIN_ANCHORS_PER_IMAGE": 128, "TRAIN_ROIS_PER_IMAGE": 32, "MAX_GT_INSTANCES": 40,
                "MINI_MASK_SHAPE": (28, 28), "DETECTION_MAX_INSTANCES": 50, "LEARNING_RATE": 0.02,
                "STEPS_PER_EPOCH": 50, "VALIDATION_STEPS": 2,
                # the attribute head: every attribute of the demo is drawn (hem lines, zippers, leg widths), so full
                # ClassIds can be learned; NUM_ATTRIBUTES follows the label file
                "ATTRIBUTE_HEAD": True},
        plan=TrainingPlan(stages=parse_stages("heads:1,all:31"), augmentation="seed", warmup_steps=100,
                          decay_epochs=(26,), data_dir="demo", val_fraction=0.2, val_metric_every=5,
                          val_metric_images=16),
    ),
    Profile(
        "cpu-crowded",
        "crowded scenes on a CPU (dataHandling.py make-demo --scenes crowded --train-images 300): the demo's narrow "
        "ResNet from random weights at 384x384 (1.4x the epochs per minute of 512, and more score per minute), "
        "anchors 8-128 px fitted to the boxes (dataHandling.py stats --profile cpu-crowded), more ROIs and masks "
        "for the crowds, the attribute head; 2 images per step, 1 heads epoch then 139 all-layer epochs, the rate "
        "cut tenfold for the last 20; about 20 minutes on 2 idle cores (figures: README, Measured figures, Harder "
        "scenes)",
        config={"BACKBONE": "resnet_tiny", "IMAGE_MIN_DIM": 384, "IMAGE_MAX_DIM": 384,
                # dataHandling.py stats --profile cpu-crowded: octaves placed over the box sizes at 384 px
                # (p2 6 px: shoes, glasses, zippers; p98 133 px); 1.1% of the boxes more than half an octave away
                "RPN_ANCHOR_SCALES": (8, 16, 32, 64, 128), "TOP_DOWN_PYRAMID_SIZE": 64, "RPN_CONV_FILTERS": 64,
                "FPN_CLASSIF_FC_LAYERS_SIZE": 256, "MASK_HEAD_FILTERS": 32, "IMAGES_PER_GPU": 2,
                "TRAIN_BN": None,  # from random weights: batch statistics (see the demo profile)
                # up to ~60 visible masks per crowded image: twice the demo's ROIs, all the masks kept
                "PRE_NMS_LIMIT": 2000, "POST_NMS_ROIS_TRAINING": 500, "POST_NMS_ROIS_INFERENCE": 300,
                "RPN_TRAIN_ANCHORS_PER_IMAGE": 256, "TRAIN_ROIS_PER_IMAGE": 64, "MAX_GT_INSTANCES": 100,
                "MINI_MASK_SHAPE": (28, 28), "DETECTION_MAX_INSTANCES": 100, "LEARNING_RATE": 0.02,
                "STEPS_PER_EPOCH": 50, "VALIDATION_STEPS": 2, "ATTRIBUTE_HEAD": True},
        # no validation metric during training: every CPU second goes to training (bench_quality.py scores after).
        # 140 epochs fill 20 idle minutes (6.9 epochs per minute): 70 epochs with the cut after 60 scored 0.075,
        # these 0.320 at 19.8 minutes (the score rose from 0.057 at epoch 66 to 0.220 at epoch 100, before the cut)
        plan=TrainingPlan(stages=parse_stages("heads:1,all:139"), augmentation="seed", warmup_steps=100,
                          decay_epochs=(120,), data_dir="crowded", val_fraction=0.2, val_metric_every=0),
    ),
)}

DEFAULT_PROFILE = "gpu"
