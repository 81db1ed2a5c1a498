"""Fixtures of the Mask R-CNN tests: a jit helper for the graph ops, the reference weights decompressed once."""

import hashlib
import lzma
import shutil

import keras
import pytest

REFERENCE_H5_MD5 = "4e2967746ec7bae3e5022dc5bfa84311"  # from shared/reference_model/README.md


def _jit_compile(fn):
    """``fn`` compiled by XLA: ``tf.function(jit_compile=True)`` on TensorFlow, ``jax.jit`` on JAX."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    raise RuntimeError(f"no jit for backend {backend!r}")


@pytest.fixture
def jit_compile():
    return _jit_compile


@pytest.fixture(scope="session")
def reference_weights_path(reference_model_dir, tmp_path_factory):
    """matterport's reference weights (resnet50, 47 classes) as a plain h5 file in a session temp dir."""
    target = tmp_path_factory.mktemp("reference_weights") / "r50_c47_s256.h5"
    digest = hashlib.md5()
    with lzma.open(reference_model_dir / "r50_c47_s256.h5.xz") as source, open(target, "wb") as out:
        for chunk in iter(lambda: source.read(1 << 22), b""):
            digest.update(chunk)
            out.write(chunk)
    assert digest.hexdigest() == REFERENCE_H5_MD5, "the reference weights decompressed to unexpected bytes"
    yield target
    shutil.rmtree(target.parent, ignore_errors=True)
