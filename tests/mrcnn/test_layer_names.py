"""Keras layer names equal matterport's, so its h5 files load by name and its layer regexes select the same layers.

The expected lists are literal: resnet50's is the weighted part of ``layer_names`` in matterport's reference h5
(shared/reference_model, written by matterport's own code); resnet101's follows matterport's naming rules (stage 4 runs
to block ``w``). The order matters too: weights load by position when ``by_name=False``.
"""

import keras
import pytest

from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.model import MaskRCNN
from fashion_seg.mrcnn.weights import weight_layers

RESNET50_WEIGHTED_LAYERS = [
    'conv1', 'bn_conv1', 'res2a_branch2a', 'bn2a_branch2a', 'res2a_branch2b', 'bn2a_branch2b', 'res2a_branch2c',
    'res2a_branch1', 'bn2a_branch2c', 'bn2a_branch1', 'res2b_branch2a', 'bn2b_branch2a', 'res2b_branch2b',
    'bn2b_branch2b', 'res2b_branch2c', 'bn2b_branch2c', 'res2c_branch2a', 'bn2c_branch2a', 'res2c_branch2b',
    'bn2c_branch2b', 'res2c_branch2c', 'bn2c_branch2c', 'res3a_branch2a', 'bn3a_branch2a', 'res3a_branch2b',
    'bn3a_branch2b', 'res3a_branch2c', 'res3a_branch1', 'bn3a_branch2c', 'bn3a_branch1', 'res3b_branch2a',
    'bn3b_branch2a', 'res3b_branch2b', 'bn3b_branch2b', 'res3b_branch2c', 'bn3b_branch2c', 'res3c_branch2a',
    'bn3c_branch2a', 'res3c_branch2b', 'bn3c_branch2b', 'res3c_branch2c', 'bn3c_branch2c', 'res3d_branch2a',
    'bn3d_branch2a', 'res3d_branch2b', 'bn3d_branch2b', 'res3d_branch2c', 'bn3d_branch2c', 'res4a_branch2a',
    'bn4a_branch2a', 'res4a_branch2b', 'bn4a_branch2b', 'res4a_branch2c', 'res4a_branch1', 'bn4a_branch2c',
    'bn4a_branch1', 'res4b_branch2a', 'bn4b_branch2a', 'res4b_branch2b', 'bn4b_branch2b', 'res4b_branch2c',
    'bn4b_branch2c', 'res4c_branch2a', 'bn4c_branch2a', 'res4c_branch2b', 'bn4c_branch2b', 'res4c_branch2c',
    'bn4c_branch2c', 'res4d_branch2a', 'bn4d_branch2a', 'res4d_branch2b', 'bn4d_branch2b', 'res4d_branch2c',
    'bn4d_branch2c', 'res4e_branch2a', 'bn4e_branch2a', 'res4e_branch2b', 'bn4e_branch2b', 'res4e_branch2c',
    'bn4e_branch2c', 'res4f_branch2a', 'bn4f_branch2a', 'res4f_branch2b', 'bn4f_branch2b', 'res4f_branch2c',
    'bn4f_branch2c', 'res5a_branch2a', 'bn5a_branch2a', 'res5a_branch2b', 'bn5a_branch2b', 'res5a_branch2c',
    'res5a_branch1', 'bn5a_branch2c', 'bn5a_branch1', 'res5b_branch2a', 'bn5b_branch2a', 'res5b_branch2b',
    'bn5b_branch2b', 'res5b_branch2c', 'bn5b_branch2c', 'res5c_branch2a', 'bn5c_branch2a', 'res5c_branch2b',
    'bn5c_branch2b', 'res5c_branch2c', 'bn5c_branch2c',
    'fpn_c5p5', 'fpn_c4p4', 'fpn_c3p3', 'fpn_c2p2', 'fpn_p5', 'fpn_p2', 'fpn_p3', 'fpn_p4', 'rpn_model',
    'mrcnn_class_conv1', 'mrcnn_class_bn1', 'mrcnn_class_conv2', 'mrcnn_class_bn2', 'mrcnn_class_logits',
    'mrcnn_bbox_fc', 'mrcnn_mask_conv1', 'mrcnn_mask_bn1', 'mrcnn_mask_conv2', 'mrcnn_mask_bn2',
    'mrcnn_mask_conv3', 'mrcnn_mask_bn3', 'mrcnn_mask_conv4', 'mrcnn_mask_bn4', 'mrcnn_mask_deconv',
    'mrcnn_mask',
]

RESNET101_WEIGHTED_LAYERS = [
    'conv1', 'bn_conv1', 'res2a_branch2a', 'bn2a_branch2a', 'res2a_branch2b', 'bn2a_branch2b', 'res2a_branch2c',
    'res2a_branch1', 'bn2a_branch2c', 'bn2a_branch1', 'res2b_branch2a', 'bn2b_branch2a', 'res2b_branch2b',
    'bn2b_branch2b', 'res2b_branch2c', 'bn2b_branch2c', 'res2c_branch2a', 'bn2c_branch2a', 'res2c_branch2b',
    'bn2c_branch2b', 'res2c_branch2c', 'bn2c_branch2c', 'res3a_branch2a', 'bn3a_branch2a', 'res3a_branch2b',
    'bn3a_branch2b', 'res3a_branch2c', 'res3a_branch1', 'bn3a_branch2c', 'bn3a_branch1', 'res3b_branch2a',
    'bn3b_branch2a', 'res3b_branch2b', 'bn3b_branch2b', 'res3b_branch2c', 'bn3b_branch2c', 'res3c_branch2a',
    'bn3c_branch2a', 'res3c_branch2b', 'bn3c_branch2b', 'res3c_branch2c', 'bn3c_branch2c', 'res3d_branch2a',
    'bn3d_branch2a', 'res3d_branch2b', 'bn3d_branch2b', 'res3d_branch2c', 'bn3d_branch2c', 'res4a_branch2a',
    'bn4a_branch2a', 'res4a_branch2b', 'bn4a_branch2b', 'res4a_branch2c', 'res4a_branch1', 'bn4a_branch2c',
    'bn4a_branch1', 'res4b_branch2a', 'bn4b_branch2a', 'res4b_branch2b', 'bn4b_branch2b', 'res4b_branch2c',
    'bn4b_branch2c', 'res4c_branch2a', 'bn4c_branch2a', 'res4c_branch2b', 'bn4c_branch2b', 'res4c_branch2c',
    'bn4c_branch2c', 'res4d_branch2a', 'bn4d_branch2a', 'res4d_branch2b', 'bn4d_branch2b', 'res4d_branch2c',
    'bn4d_branch2c', 'res4e_branch2a', 'bn4e_branch2a', 'res4e_branch2b', 'bn4e_branch2b', 'res4e_branch2c',
    'bn4e_branch2c', 'res4f_branch2a', 'bn4f_branch2a', 'res4f_branch2b', 'bn4f_branch2b', 'res4f_branch2c',
    'bn4f_branch2c', 'res4g_branch2a', 'bn4g_branch2a', 'res4g_branch2b', 'bn4g_branch2b', 'res4g_branch2c',
    'bn4g_branch2c', 'res4h_branch2a', 'bn4h_branch2a', 'res4h_branch2b', 'bn4h_branch2b', 'res4h_branch2c',
    'bn4h_branch2c', 'res4i_branch2a', 'bn4i_branch2a', 'res4i_branch2b', 'bn4i_branch2b', 'res4i_branch2c',
    'bn4i_branch2c', 'res4j_branch2a', 'bn4j_branch2a', 'res4j_branch2b', 'bn4j_branch2b', 'res4j_branch2c',
    'bn4j_branch2c', 'res4k_branch2a', 'bn4k_branch2a', 'res4k_branch2b', 'bn4k_branch2b', 'res4k_branch2c',
    'bn4k_branch2c', 'res4l_branch2a', 'bn4l_branch2a', 'res4l_branch2b', 'bn4l_branch2b', 'res4l_branch2c',
    'bn4l_branch2c', 'res4m_branch2a', 'bn4m_branch2a', 'res4m_branch2b', 'bn4m_branch2b', 'res4m_branch2c',
    'bn4m_branch2c', 'res4n_branch2a', 'bn4n_branch2a', 'res4n_branch2b', 'bn4n_branch2b', 'res4n_branch2c',
    'bn4n_branch2c', 'res4o_branch2a', 'bn4o_branch2a', 'res4o_branch2b', 'bn4o_branch2b', 'res4o_branch2c',
    'bn4o_branch2c', 'res4p_branch2a', 'bn4p_branch2a', 'res4p_branch2b', 'bn4p_branch2b', 'res4p_branch2c',
    'bn4p_branch2c', 'res4q_branch2a', 'bn4q_branch2a', 'res4q_branch2b', 'bn4q_branch2b', 'res4q_branch2c',
    'bn4q_branch2c', 'res4r_branch2a', 'bn4r_branch2a', 'res4r_branch2b', 'bn4r_branch2b', 'res4r_branch2c',
    'bn4r_branch2c', 'res4s_branch2a', 'bn4s_branch2a', 'res4s_branch2b', 'bn4s_branch2b', 'res4s_branch2c',
    'bn4s_branch2c', 'res4t_branch2a', 'bn4t_branch2a', 'res4t_branch2b', 'bn4t_branch2b', 'res4t_branch2c',
    'bn4t_branch2c', 'res4u_branch2a', 'bn4u_branch2a', 'res4u_branch2b', 'bn4u_branch2b', 'res4u_branch2c',
    'bn4u_branch2c', 'res4v_branch2a', 'bn4v_branch2a', 'res4v_branch2b', 'bn4v_branch2b', 'res4v_branch2c',
    'bn4v_branch2c', 'res4w_branch2a', 'bn4w_branch2a', 'res4w_branch2b', 'bn4w_branch2b', 'res4w_branch2c',
    'bn4w_branch2c', 'res5a_branch2a', 'bn5a_branch2a', 'res5a_branch2b', 'bn5a_branch2b', 'res5a_branch2c',
    'res5a_branch1', 'bn5a_branch2c', 'bn5a_branch1', 'res5b_branch2a', 'bn5b_branch2a', 'res5b_branch2b',
    'bn5b_branch2b', 'res5b_branch2c', 'bn5b_branch2c', 'res5c_branch2a', 'bn5c_branch2a', 'res5c_branch2b',
    'bn5c_branch2b', 'res5c_branch2c', 'bn5c_branch2c',
    'fpn_c5p5', 'fpn_c4p4', 'fpn_c3p3', 'fpn_c2p2', 'fpn_p5', 'fpn_p2', 'fpn_p3', 'fpn_p4', 'rpn_model',
    'mrcnn_class_conv1', 'mrcnn_class_bn1', 'mrcnn_class_conv2', 'mrcnn_class_bn2', 'mrcnn_class_logits',
    'mrcnn_bbox_fc', 'mrcnn_mask_conv1', 'mrcnn_mask_bn1', 'mrcnn_mask_conv2', 'mrcnn_mask_bn2',
    'mrcnn_mask_conv3', 'mrcnn_mask_bn3', 'mrcnn_mask_conv4', 'mrcnn_mask_bn4', 'mrcnn_mask_deconv',
    'mrcnn_mask',
]

TIME_DISTRIBUTED_LAYERS = [
    "mrcnn_class_conv1", "mrcnn_class_bn1", "mrcnn_class_conv2", "mrcnn_class_bn2", "mrcnn_class_logits",
    "mrcnn_bbox_fc", "mrcnn_mask_conv1", "mrcnn_mask_bn1", "mrcnn_mask_conv2", "mrcnn_mask_bn2", "mrcnn_mask_conv3",
    "mrcnn_mask_bn3", "mrcnn_mask_conv4", "mrcnn_mask_bn4", "mrcnn_mask_deconv", "mrcnn_mask",
]


def build(backbone, tmp_path):
    config = Config(NAME="names", BACKBONE=backbone, NUM_CLASSES=3, IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128,
                    IMAGES_PER_GPU=1)
    return MaskRCNN("inference", config, tmp_path).keras_model


@pytest.mark.jax
@pytest.mark.parametrize("backbone, expected", [("resnet50", RESNET50_WEIGHTED_LAYERS),
                                                ("resnet101", RESNET101_WEIGHTED_LAYERS)])
def test_weighted_layer_names_and_order_equal_matterports(backbone, expected, tmp_path):
    model = build(backbone, tmp_path)
    assert [entry.name for entry in weight_layers(model)] == expected


def test_heads_are_time_distributed_and_the_rpn_is_one_nested_model(tmp_path):
    model = build("resnet50", tmp_path)
    time_distributed = [layer.name for layer in model.layers if isinstance(layer, keras.layers.TimeDistributed)]
    assert sorted(time_distributed) == sorted(TIME_DISTRIBUTED_LAYERS + ["mrcnn_class"])  # + weightless softmax
    rpn = model.get_layer("rpn_model")
    assert isinstance(rpn, keras.Model)
    assert [layer.name for layer in rpn.layers if layer.weights] == ["rpn_conv_shared", "rpn_class_raw",
                                                                     "rpn_bbox_pred"]
    named = {layer.name for layer in model.layers}
    assert {"res2c_out", "res3d_out", "res4f_out", "res5c_out", "fpn_p6", "ROI", "mrcnn_detection",
            "roi_align_classifier", "roi_align_mask", "rpn_class", "rpn_bbox", "mrcnn_bbox"} <= named


def test_resnet50_list_is_the_reference_files_list(reference_weights_path):
    import h5py

    with h5py.File(reference_weights_path, "r") as handle:
        names = [name.decode() for name in handle.attrs["layer_names"]]
        weighted = [name for name in names if len(handle[name].attrs["weight_names"])]
    assert weighted == RESNET50_WEIGHTED_LAYERS
