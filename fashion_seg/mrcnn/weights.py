"""Weight files in matterport's (Keras 2) h5 layout: reading, writing, and the COCO download.

The layout, which ``mask_rcnn_coco.h5`` and every matterport checkpoint use, and which this module also writes:

- root attribute ``layer_names``: the model's layer names in order (weightless layers may be listed with an empty
  ``weight_names``); a file written by ``model.save`` keeps all this under a group ``model_weights``;
- one group per layer, with attribute ``weight_names`` (e.g. ``[b"conv1/kernel:0", b"conv1/bias:0"]``) giving the
  order of the layer's weights, and one float32 dataset per name, at ``/<layer>/<weight name>``;
- a nested model (``rpn_model``) is one group whose weight names are prefixed by its inner layers' names;
- ``TimeDistributed`` layers store their inner layer's weights under the wrapper's name.

Attribute values may be bytes or str (h5py 3 returns either, depending on how the file was written). Kernel layouts are
Keras's on every backend (HWIO convs, ``(in, out)`` dense, ``(kh, kw, out, in)`` transposed conv).

Loading validates the whole file against the model before assigning anything, so a failed load leaves the model as
it was. Skipped layers (excluded, absent from the file, or absent from the model) are logged and returned in a
:class:`LoadReport`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np
from tqdm import tqdm

from ..atomic import atomic_path
from ..errors import WeightsError

log = logging.getLogger(__name__)

COCO_WEIGHTS_URL = "https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5"
# md5 as published with the v2.0 release file in NVIDIA TensorRT's sampleUffMaskRCNN README (and alibaba/ai-matrix's
# checksum list); size as reported by HTTP downloads and by h5py's "stored_eof" for truncated copies.
COCO_WEIGHTS_MD5 = "e98aaff6f99e307b5e2a8a3ff741a518"
COCO_WEIGHTS_SIZE = 257_557_808
COCO_WEIGHTS_FILENAME = "mask_rcnn_coco.h5"

# The layers whose shapes depend on NUM_CLASSES: exclude them to start from COCO with another class count.
CLASS_SPECIFIC_LAYERS = ("mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask")


# ---------------------------------------------------------------------------------------------- the model's view
@dataclass
class LayerWeights:
    """One weight-holding layer as the h5 layout sees it: a group name and its named, ordered weights."""

    name: str
    weight_names: list[str]
    variables: list


def _weight_names(layer) -> list[str]:
    if isinstance(layer, keras.Model):  # nested model: names relative to the model, prefixed by its inner layers
        return [name for inner in layer.layers for name in _weight_names(inner)]
    return [f"{layer.name}/{variable.name}:0" for variable in layer.weights]


def _variables(layer) -> list:
    if isinstance(layer, keras.Model):
        return [variable for inner in layer.layers for variable in _variables(inner)]
    return list(layer.weights)


def weight_layers(model: keras.Model) -> list[LayerWeights]:
    """The model's weight-holding top-level layers, in model order (a nested model counts as one layer)."""
    entries = []
    for layer in model.layers:
        variables = _variables(layer)
        if variables:
            entries.append(LayerWeights(layer.name, _weight_names(layer), variables))
    return entries


# ---------------------------------------------------------------------------------------------------- reading
def _decode(values) -> list[str]:
    return [value.decode("utf8") if isinstance(value, bytes) else str(value) for value in np.asarray(values).ravel()]


def _attribute_list(group, name: str) -> list[str]:
    """A list-valued attribute; Keras 2 splits large ones into ``name0``, ``name1``, ..."""
    if name in group.attrs:
        return _decode(group.attrs[name])
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        values.extend(_decode(group.attrs[f"{name}{chunk}"]))
        chunk += 1
    if chunk == 0:
        raise KeyError(name)
    return values


class WeightFile:
    """An open matterport-layout h5 weights file (use as a context manager)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise WeightsError(f"weights file {self.path} does not exist")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise WeightsError(f"{self.path} is not a readable HDF5 weights file (truncated or corrupt?): {error}") \
                from None
        root = self._file
        if "layer_names" not in root.attrs and "layer_names0" not in root.attrs and "model_weights" in root:
            root = root["model_weights"]  # a file written by Keras 2 model.save()
        try:
            self.layer_names = _attribute_list(root, "layer_names")
        except KeyError:
            self.close()
            raise WeightsError(
                f"{self.path} is an HDF5 file but not a Keras weights file: it has no 'layer_names' attribute "
                "(expected matterport's save_weights / model.save layout)"
            ) from None
        self._root = root
        self.weight_names = {}
        for name in self.layer_names:
            if name not in root:
                self.close()
                raise WeightsError(f"{self.path}: layer {name!r} is listed in layer_names but has no group "
                                   "(truncated or corrupt file?)")
            names = _attribute_list(root[name], "weight_names") if _has_list_attribute(root[name], "weight_names") \
                else []
            self.weight_names[name] = names

    @property
    def weighted_layer_names(self) -> list[str]:
        """Layers that hold weights, in file order."""
        return [name for name in self.layer_names if self.weight_names[name]]

    def shapes(self, layer: str) -> list[tuple[int, ...]]:
        group = self._root[layer]
        try:
            return [tuple(group[name].shape) for name in self.weight_names[layer]]
        except KeyError as error:
            raise WeightsError(f"{self.path}: layer {layer!r} lacks a dataset it lists in weight_names ({error})") \
                from None

    def arrays(self, layer: str) -> list[np.ndarray]:
        group = self._root[layer]
        try:
            return [np.asarray(group[name][()]) for name in self.weight_names[layer]]
        except (OSError, KeyError) as error:
            raise WeightsError(f"{self.path}: cannot read the weights of layer {layer!r} (truncated or corrupt "
                               f"file?): {error}") from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "WeightFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _has_list_attribute(group, name: str) -> bool:
    return name in group.attrs or f"{name}0" in group.attrs


# ---------------------------------------------------------------------------------------------------- loading
@dataclass
class LoadReport:
    """What :func:`load_weights` did. Layer names, in model order (``unused_in_file`` in file order)."""

    path: Path
    loaded: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    missing_in_file: list[str] = field(default_factory=list)
    unused_in_file: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"loaded {len(self.loaded)} layers from {self.path}"]
        if self.excluded:
            parts.append(f"excluded (left as they were): {', '.join(self.excluded)}")
        if self.missing_in_file:
            parts.append(f"not in the file (left as they were): {', '.join(self.missing_in_file)}")
        if self.unused_in_file:
            parts.append(f"in the file but not in the model (ignored): {', '.join(self.unused_in_file)}")
        return "; ".join(parts)


def _pair_weights(entry: LayerWeights, file_names: list[str], file_shapes: list[tuple]) -> tuple[list, str | None]:
    """Match a layer's variables to its file datasets: by weight name when the names agree (as in matterport's and
    our files), else by position (Keras 2 semantics). Returns ``(pairs, problem)``."""
    model_shapes = [tuple(variable.shape) for variable in entry.variables]
    if len(file_names) != len(entry.variables):
        return [], (f"{len(file_names)} weights {file_shapes} in the file, {len(entry.variables)} weights "
                    f"{model_shapes} in the model")
    if sorted(file_names) == sorted(entry.weight_names):
        index = {name: position for position, name in enumerate(file_names)}
        order = [index[name] for name in entry.weight_names]
    else:
        order = list(range(len(file_names)))
    pairs = list(zip(entry.variables, order))
    wrong = [(entry.weight_names[i], file_shapes[position], model_shapes[i])
             for i, (_, position) in enumerate(pairs) if tuple(file_shapes[position]) != model_shapes[i]]
    if wrong:
        return [], "; ".join(f"{name}: file {file_shape} vs model {model_shape}"
                             for name, file_shape, model_shape in wrong)
    return pairs, None


def load_weights(model: keras.Model, filepath: str | os.PathLike, by_name: bool = False, exclude=None) -> LoadReport:
    """Load a matterport-layout h5 file into ``model``.

    by_name=True: every model layer takes the weights of the file layer with its name; layers absent from the file
    and file layers absent from the model are skipped (and reported). by_name=False: weight-holding layers are
    matched by position, as Keras 2 does; the counts must agree. ``exclude``: model layer names not to load (with
    by_name=False they are dropped from both sides before matching). A shape mismatch raises :class:`WeightsError`
    naming every layer concerned; nothing is assigned in that case.
    """
    exclude = set(exclude or ())
    entries = weight_layers(model)
    report = LoadReport(Path(filepath))
    with WeightFile(filepath) as weight_file:
        file_layers = weight_file.weighted_layer_names
        plan = []
        if by_name:
            model_names = {entry.name for entry in entries}
            available = set(file_layers)
            for entry in entries:
                if entry.name in exclude:
                    report.excluded.append(entry.name)
                elif entry.name not in available:
                    report.missing_in_file.append(entry.name)
                else:
                    plan.append((entry, entry.name))
            report.unused_in_file = [name for name in file_layers if name not in model_names]
        else:
            report.excluded = [entry.name for entry in entries if entry.name in exclude]
            kept = [entry for entry in entries if entry.name not in exclude]
            file_kept = [name for name in file_layers if name not in exclude]
            if len(kept) != len(file_kept):
                raise WeightsError(
                    f"{weight_file.path} holds {len(file_kept)} weight layers but the model has {len(kept)}; "
                    f"{_first_difference([e.name for e in kept], file_kept)}. Load with by_name=True to take the "
                    "layers the two have in common"
                )
            plan = list(zip(kept, file_kept))
        pairs, problems, misfits = [], [], []
        for entry, file_layer in plan:
            matched, problem = _pair_weights(entry, weight_file.weight_names[file_layer],
                                             weight_file.shapes(file_layer))
            if problem:
                label = entry.name if entry.name == file_layer else f"{entry.name} (file layer {file_layer})"
                problems.append(f"{label}: {problem}")
                misfits.append(entry.name)
            else:
                pairs.append((entry, file_layer, matched))
        if problems:
            hint = ""
            if set(misfits) & set(CLASS_SPECIFIC_LAYERS):
                hint = (f" If the file was trained with another NUM_CLASSES, load it with by_name=True, "
                        f"exclude={list(CLASS_SPECIFIC_LAYERS)}.")
            raise WeightsError(f"{weight_file.path} does not fit the model in {len(problems)} layers: "
                               + " | ".join(problems) + "." + hint)
        values = [(entry, file_layer, matched, weight_file.arrays(file_layer)) for entry, file_layer, matched in pairs]
    for entry, _, matched, arrays in values:
        for variable, position in matched:
            variable.assign(arrays[position].astype(variable.dtype, copy=False))
        report.loaded.append(entry.name)
    log.info(report.summary())
    return report


def _first_difference(model_names: list[str], file_names: list[str]) -> str:
    for position, (model_name, file_name) in enumerate(zip(model_names, file_names)):
        if model_name != file_name:
            return f"they first differ at position {position}: model {model_name!r}, file {file_name!r}"
    longer, which = (model_names, "model") if len(model_names) > len(file_names) else (file_names, "file")
    return f"the {which} continues with {longer[min(len(model_names), len(file_names))]!r}"


# ---------------------------------------------------------------------------------------------------- writing
def save_weights(model: keras.Model, filepath: str | os.PathLike) -> Path:
    """Write the model's weights in matterport's h5 layout, atomically (readers never see a partial file).

    Only weight-holding layers are listed. ``backend`` is ``tensorflow`` (Keras 2 reads that as "kernels need no
    conversion", which is true for Keras 3 kernels from either backend).
    """
    entries = weight_layers(model)
    target = Path(filepath)
    with atomic_path(target) as tmp:
        with h5py.File(tmp, "w") as handle:
            handle.attrs["layer_names"] = np.array([entry.name.encode("utf8") for entry in entries])
            handle.attrs["backend"] = b"tensorflow"
            handle.attrs["keras_version"] = keras.__version__.encode("utf8")
            for entry in entries:
                group = handle.create_group(entry.name)
                group.attrs["weight_names"] = np.array([name.encode("utf8") for name in entry.weight_names])
                for name, variable in zip(entry.weight_names, entry.variables):
                    group.create_dataset(name, data=np.asarray(keras.ops.convert_to_numpy(variable)))
    return target


# --------------------------------------------------------------------------------------------- COCO download
def default_cache_dir() -> Path:
    """``$FASHION_SEG_CACHE``, else ``~/.cache/fashion_seg``."""
    return Path(os.environ.get("FASHION_SEG_CACHE") or Path.home() / ".cache" / "fashion_seg")


def file_md5(path: str | os.PathLike, chunk_size: int = 1 << 22) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_download(path: Path, size: int, md5: str, source: str) -> None:
    actual_size = path.stat().st_size
    if actual_size != size:
        raise WeightsError(f"{source} is {actual_size:,} bytes, expected {size:,} (incomplete or a different file)")
    actual_md5 = file_md5(path)
    if actual_md5 != md5:
        raise WeightsError(f"{source} has md5 {actual_md5}, expected {md5} (corrupt or a different file)")


def fetch_file(url: str, target: str | os.PathLike, size: int, md5: str, progress: bool = True,
               timeout: float = 30.0) -> Path:
    """Return ``target`` after checking its size and md5; download it from ``url`` first if it is absent.

    The download goes to a temporary file beside ``target``, is checked, then renamed: an interrupted or corrupt
    download never leaves a file at ``target``. Network failures raise :class:`WeightsError` saying where to put
    a copy obtained some other way.
    """
    target = Path(target)
    if target.exists():
        try:
            _check_download(target, size, md5, str(target))
        except WeightsError as error:
            raise WeightsError(f"{error}; delete it to download it again from {url}") from None
        return target
    log.info("downloading %s to %s", url, target)
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or size)
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
                          disable=not progress) as bar:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
            _check_download(tmp, size, md5, f"the download of {url}")
    except (urllib.error.URLError, OSError) as error:
        raise WeightsError(
            f"cannot download {url} ({getattr(error, 'reason', error)}). Without network access, fetch the file "
            f"elsewhere and place it at {target} (md5 {md5}, {size:,} bytes)"
        ) from None
    return target


def coco_weights_path(cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Path of matterport's ``mask_rcnn_coco.h5`` (ResNet-101, 81 classes) in the cache, downloaded and checked on
    first use. ``cache_dir`` defaults to :func:`default_cache_dir`."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return fetch_file(COCO_WEIGHTS_URL, directory / COCO_WEIGHTS_FILENAME, COCO_WEIGHTS_SIZE, COCO_WEIGHTS_MD5,
                      progress=progress)
