"""2D -> 3D inflation: a static clip reproduces the 2D ResNet's features.

The reference is keras.applications.ResNet50 (an independent 2D network
with conv biases, stride in the 1x1 conv and BN epsilon 1.001e-5) run on the
single frame.
"""

import pickle

import keras
import numpy as np
import pytest

from nonlocal_tf import zoo
from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.models import features_model
from nonlocal_tf.zoo.inflation import inflate_2d_weights

SIZE = 32


@pytest.fixture(scope="module")
def resnet2d():
    keras.utils.set_random_seed(7)
    model = keras.applications.ResNet50(
        weights=None,
        input_shape=(SIZE, SIZE, 3),
        classes=10,
        classifier_activation=None,
    )
    rng = np.random.default_rng(7)
    for w in model.weights:
        leaf = w.path.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            w.assign(rng.uniform(0.5, 1.5, w.shape))
        elif leaf in ("beta", "moving_mean", "bias"):
            w.assign(rng.normal(0, 0.1, w.shape))
    frame = rng.normal(size=(1, SIZE, SIZE, 3)).astype("float32")
    s5 = keras.Model(model.input, model.get_layer("conv5_block3_out").output)
    return model, frame, np.asarray(s5(frame)), np.asarray(model(frame))


def test_c2d_from_keras_model_matches_2d_network(resnet2d):
    model2d, frame, s5_2d, logits_2d = resnet2d
    model = VideoClassifier(
        depth=50,
        arch="c2d",
        stride_in_1x1=True,
        num_classes=10,
        classifier_activation=None,
        input_shape=(2, SIZE, SIZE, 3),
    )
    report = inflate_2d_weights(model, model2d)
    assert len(report.inflated) == 53 and not report.skipped
    assert not report.left_at_init
    assert any("biases folded" in n for n in report.notes)
    clip = np.repeat(frame[:, None], 2, axis=1)
    s5 = np.asarray(features_model(model)(clip)["s5"])
    assert s5.shape == (1, 1, 1, 1, 2048)
    np.testing.assert_allclose(s5[:, 0], s5_2d, atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(model(clip)), logits_2d, atol=2e-5, rtol=1e-5
    )


def test_i3d_from_weights_file_matches_away_from_borders(resnet2d, tmp_path):
    model2d, frame, s5_2d, _ = resnet2d
    path = str(tmp_path / "resnet50.weights.h5")
    model2d.save_weights(path)
    model = zoo.get_model(
        "i3d_r50_8x8_pyslowfast",
        stride_in_1x1=True,
        input_shape=(40, SIZE, SIZE, 3),
    )
    report = inflate_2d_weights(model, path)
    assert ("conv1_w", 5) in report.inflated
    assert ("res2_0_branch2a_w", 3) in report.inflated
    assert ("res3_1_branch2a_w", 1) in report.inflated
    assert [name for name, _ in report.skipped] == ["pred_w", "pred_b"]
    assert "10 classes, the model 400" in report.skipped[0][1]
    clip = np.repeat(frame[:, None], 40, axis=1)
    s5 = np.asarray(features_model(model)(clip)["s5"])
    assert s5.shape[1] == 20
    # Temporal receptive field of the zero-padded 3x1x1/5x7x7 kernels: frames
    # 9 and 10 of s5 see no padding (docs/reference.md §6).
    for t in (9, 10):
        np.testing.assert_allclose(s5[:, t], s5_2d, atol=2e-5, rtol=1e-5)
    assert np.abs(s5[:, 0] - s5_2d).max() > 1e-2  # the border does differ


def test_c2d_from_legacy_keras_h5(resnet2d, tmp_path):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    model2d, frame, _, logits_2d = resnet2d
    path = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    with h5py.File(path, "w") as f:  # the format of the ImageNet downloads
        legacy_h5_format.save_weights_to_hdf5_group(f, model2d)
    model = VideoClassifier(
        depth=50,
        stride_in_1x1=True,
        num_classes=10,
        classifier_activation=None,
        input_shape=(2, SIZE, SIZE, 3),
    )
    zoo.inflate_2d_weights(model, path)
    clip = np.repeat(frame[:, None], 2, axis=1)
    np.testing.assert_allclose(
        np.asarray(model(clip)), logits_2d, atol=2e-5, rtol=1e-5
    )


def _caffe2_2d_blobs(model2d):
    """The keras ResNet50 as a Caffe2 ImageNet pickle (2D, no conv bias)."""
    blobs = {}
    bias = {}
    branches = {
        "0": "branch1",
        "1": "branch2a",
        "2": "branch2b",
        "3": "branch2c",
    }
    for layer in model2d.layers:
        if not layer.weights:
            continue
        parts = layer.name.split("_")
        if layer.name.startswith("conv1_"):
            prefix = "conv1" if parts[1] == "conv" else "res_conv1_bn"
        elif layer.name.startswith("conv") and "block" in layer.name:
            stage, block = parts[0][4:], int(parts[1][5:]) - 1
            prefix = f"res{stage}_{block}_{branches[parts[2]]}"
            if parts[3] == "bn":
                prefix += "_bn"
        elif layer.name == "predictions":
            kernel, b = layer.get_weights()
            blobs["pred_w"], blobs["pred_b"] = kernel.T, b
            continue
        else:
            continue
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.Conv2D):
            blobs[f"{prefix}_w"] = weights[0].transpose(3, 2, 0, 1)
            bn = "res_conv1_bn" if prefix == "conv1" else f"{prefix}_bn"
            bias[bn] = weights[1]
        else:
            gamma, beta, mean, var = weights
            blobs[f"{prefix}_s"], blobs[f"{prefix}_b"] = gamma, beta
            blobs[f"{prefix}_rm"] = mean
            # Caffe2 BN epsilon is 1e-5.
            blobs[f"{prefix}_riv"] = var + layer.epsilon - 1e-5
    for bn, b in bias.items():
        blobs[f"{bn}_rm"] = blobs[f"{bn}_rm"] - b
    return blobs


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
def test_c2d_nl_from_caffe2_pickle_keeps_nonlocal_identity(resnet2d, tmp_path):
    model2d, frame, s5_2d, logits_2d = resnet2d
    path = tmp_path / "r50_pretrain_c2_model_iter450450_clean.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": _caffe2_2d_blobs(model2d)}, f, protocol=2)
    model = zoo.get_model(
        "c2d_nl5_r50_8x8_pyslowfast",
        stride_in_1x1=True,
        num_classes=10,
        classifier_activation=None,
        input_shape=(2, SIZE, SIZE, 3),
    )
    report = inflate_2d_weights(model, path)
    assert len(report.inflated) == 53 and "pred_w" in report.copied
    assert len(report.left_at_init) == 5 * 12  # theta/phi/g/out w,b + bn x4
    assert all(n.startswith("nonlocal_conv") for n in report.left_at_init)
    clip = np.repeat(frame[:, None], 2, axis=1)
    np.testing.assert_allclose(
        np.asarray(model(clip)), logits_2d, atol=2e-5, rtol=1e-5
    )


def test_mismatched_source_is_refused(tmp_path):
    path = tmp_path / "bad.pkl"
    blobs = {"conv1_w": np.zeros((64, 3, 7, 7), np.float32)}
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)
    model = VideoClassifier(
        depth=50, width_per_group=2, input_shape=(2, SIZE, SIZE, 3)
    )
    with pytest.raises(ValueError, match="shape mismatch: conv1_w") as e:
        inflate_2d_weights(model, path)
    assert "missing in the source: res2_0_branch2a_w" in str(e.value)
