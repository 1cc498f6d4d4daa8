"""A user's own images made into what the few-shot learners were trained on: ``[1, 28, 28]`` float tensors
with ink = 1 on a background of 0.

The training drawings (procedural glyphs, and Omniglot as :mod:`lab.tasks.omniglot` prepares it) are light
ink on a black background, resized whole (no crop) with area averaging. :func:`preprocess_image` does the
same to any 2-D grayscale or RGB(A) image, whatever its size, dtype or polarity:

1. to gray floats in [0, 1] (uint8 / 255; RGB by the ITU-R 601 luma weights, as Pillow's ``convert("L")``;
   a transparent background becomes the colour opposite to the drawing);
2. **ink polarity** per image: the background level is the median of the border pixels, and the ink is
   the extreme farther from it; dark ink on a light page is inverted;
3. the background level becomes 0 (``(x - bg) / (1 - bg)``, clipped), so a grey page is black like the
   training background; clean images (background exactly 0) are unchanged;
4. padded with background to a square (the aspect is kept), then area-averaged to 28x28.

:func:`read_support_folder` and :func:`read_query_folder` read the folder layout of ``python -m lab classify``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SIZE = 28  # Conv4 on 28x28 ends in a 1x1 map: every learner here was trained at this size
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_LUMA = np.array([0.299, 0.587, 0.114])


def _pil_to_array(image: Any) -> np.ndarray:
    """Return a Pillow image as an array ``[H, W]`` or ``[H, W, C]`` whose dtype says its value range."""
    mode = image.mode
    if mode.startswith("I"):  # 16-bit grayscale PNGs open as I, I;16 ...
        return np.asarray(image, dtype=np.float64) / 65535.0
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode not in ("1", "L", "LA", "RGB", "RGBA", "F"):
        image = image.convert("RGB")  # CMYK, YCbCr, HSV, LAB ...
    return np.asarray(image)


def to_gray(image: Any, name: str = "image") -> np.ndarray:
    """Return ``image`` as float64 ``[H, W]`` in [0, 1] (no polarity change).

    ``image`` is a numpy array, torch tensor or Pillow image: ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]`` with
    ``C`` 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); uint8 0..255, uint16, bool, or floats in [0, 1].
    Raises ``ValueError`` naming ``name`` and what to change.
    """
    if hasattr(image, "getbands"):  # a Pillow image; Pillow itself is imported only to read files
        array = _pil_to_array(image)
    elif isinstance(image, torch.Tensor):
        array = image.detach().cpu().numpy()
    else:
        array = np.asarray(image)
    if array.ndim == 3:
        if array.shape[-1] in (1, 2, 3, 4):
            pass
        elif array.shape[0] in (1, 2, 3, 4):
            array = np.moveaxis(array, 0, -1)
        else:
            raise ValueError(f"{name} has shape {list(array.shape)}; expected [H, W] grayscale, [H, W, C] "
                             "or [C, H, W] with C = 1 (gray), 3 (RGB) or 4 (RGBA)")
    elif array.ndim != 2:
        raise ValueError(f"{name} has shape {list(array.shape)}; expected a 2-D grayscale image [H, W] "
                         "(or one with a colour axis)")
    if min(array.shape[:2]) == 0:
        raise ValueError(f"{name} has shape {list(array.shape)}, which holds no pixels")
    values = _to_unit_range(array, name)
    if values.ndim == 2:
        return values
    channels = values.shape[-1]
    gray = values[..., 0] if channels <= 2 else values[..., :3] @ _LUMA
    if channels in (2, 4):  # composite onto the colour opposite to the opaque drawing
        alpha = values[..., -1]
        opaque = float((gray * alpha).sum() / max(alpha.sum(), 1e-12))
        gray = gray * alpha + (1.0 if opaque < 0.5 else 0.0) * (1 - alpha)
    return gray


def _to_unit_range(array: np.ndarray, name: str) -> np.ndarray:
    """Return ``array`` as float64 in [0, 1], scaled by what its dtype says; ``ValueError`` otherwise."""
    if array.dtype == np.bool_:
        return array.astype(np.float64)
    if array.dtype == np.uint8:
        return array / 255.0
    if array.dtype == np.uint16:
        return array / 65535.0
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f"{name} has integer values in [{low}, {high}]; integer images must be 0..255 "
                             "(8-bit); pass uint8, or floats in [0, 1]")
        return array / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} has dtype {array.dtype}; pass uint8 0..255 or floats in [0, 1]")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} holds NaN or infinite values; pass finite pixel values")
    low, high = float(values.min()), float(values.max())
    if low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(f"{name} has float values in [{low:g}, {high:g}]; float images must lie in [0, 1] "
                         "(divide 0..255 data by 255, or pass it as uint8)")
    return values.clip(0.0, 1.0)


def ink_on_black(gray: np.ndarray) -> np.ndarray:
    """Return a gray image ``[H, W]`` in [0, 1] turned into ink = 1 on background = 0 (steps 2-3 above)."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background - gray.min() > gray.max() - background:  # the ink is darker than the page
        gray, background = 1.0 - gray, 1.0 - background
    if background >= 1.0 - 1e-6:  # a blank image
        return np.zeros_like(gray)
    return ((gray - background) / (1.0 - background)).clip(0.0, 1.0)


def preprocess_image(image: Any, size: int = IMAGE_SIZE, name: str = "image") -> torch.Tensor:
    """Return one image as float32 ``[1, size, size]`` in [0, 1], ink = 1 on 0, prepared as the training data
    was (see the module docstring). Raises ``ValueError`` naming ``name`` for an unusable image."""
    ink = ink_on_black(to_gray(image, name))
    h, w = ink.shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = np.zeros((side, side))
    square[top:top + h, left:left + w] = ink
    small = F.adaptive_avg_pool2d(torch.from_numpy(square)[None, None], size)
    return small[0].float()


def as_image_list(images: Any, name: str) -> list[Any]:
    """Return ``images`` (a sequence of images, or a stacked array/tensor ``[N, H, W]`` or ``[N, H, W, C]``
    / ``[N, C, H, W]``) as a list of single images. Raises ``ValueError`` for a single 2-D image or a path."""
    if isinstance(images, (str, Path)):
        raise ValueError(f"{name} is a path ({images}); pass images, or read a folder with "
                         "lab.user_images.read_support_folder / read_query_folder")
    if isinstance(images, (np.ndarray, torch.Tensor)):
        if images.ndim not in (3, 4) or (images.ndim == 3 and images.shape[-1] in (3, 4)):
            raise ValueError(f"{name} has shape {list(images.shape)}; pass a stacked array [N, H, W] (or a list "
                             "of images); wrap a single image as [image]")
        return list(images)
    if hasattr(images, "getbands"):
        raise ValueError(f"{name} is a single image; pass a list of images, e.g. [image]")
    if not isinstance(images, Sequence):
        images = list(images)
    return list(images)


def preprocess_images(images: Any, name: str = "images", size: int = IMAGE_SIZE) -> torch.Tensor:
    """Return ``images`` (see :func:`as_image_list`) preprocessed and stacked: float32 ``[N, 1, size, size]``."""
    items = as_image_list(images, name)
    if not items:
        raise ValueError(f"{name} is empty; pass at least one image")
    return torch.stack([preprocess_image(image, size, f"{name}[{i}]") for i, image in enumerate(items)])


def read_image(path: Path | str) -> np.ndarray:
    """Return the image file at ``path`` as float64 gray ``[H, W]`` in [0, 1] (turned upright by its EXIF
    orientation). Raises ``ValueError`` naming the file if it cannot be read."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # a dependency, imported only to read files

    try:
        with Image.open(path) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})".splitlines()[0]) from None
    return to_gray(upright, str(path))


def image_files(folder: Path) -> list[Path]:
    """Return the image files (by suffix, :data:`IMAGE_SUFFIXES`) directly in ``folder``, sorted; hidden
    files are left out."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_folder(folder: Path | str, role: str) -> Path:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"{role} folder {folder} {state}")
    return folder


def read_support_folder(folder: Path | str) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Return ``(images, labels, files)`` from ``folder``: one subfolder per class (its name is the label)
    holding that class's image files; ``files`` are relative to ``folder``. Raises ``ValueError`` for a
    missing folder, image files outside a class folder, or a class folder without images."""
    folder = _check_folder(folder, "support")
    loose = image_files(folder)
    if loose:
        raise ValueError(f"support folder {folder} has image files at its top level ({loose[0].name}); put each "
                         "class's images in a subfolder named after the class")
    images, labels, files = [], [], []
    for class_dir in _subfolders(folder):
        found = image_files(class_dir)
        if not found:
            raise ValueError(f"support class folder {class_dir} has no images ({', '.join(IMAGE_SUFFIXES)}); "
                             "add at least one or remove the folder")
        for path in found:
            images.append(read_image(path))
            labels.append(class_dir.name)
            files.append(str(path.relative_to(folder)))
    if not images:
        raise ValueError(f"support folder {folder} has no class subfolders; make one subfolder per class "
                         "holding its images")
    return images, labels, files


def read_query_folder(folder: Path | str) -> tuple[list[np.ndarray], list[str], list[str | None]]:
    """Return ``(images, files, true_labels)`` from ``folder``: its image files (true label ``None``), then
    those in its subfolders (true label = the subfolder's name); ``files`` are relative to ``folder``.
    Raises ``ValueError`` for a missing folder or one without images."""
    folder = _check_folder(folder, "query")
    images, files, truth = [], [], []
    for label, paths in [(None, image_files(folder))] + [(d.name, image_files(d)) for d in _subfolders(folder)]:
        for path in paths:
            images.append(read_image(path))
            files.append(str(path.relative_to(folder)))
            truth.append(label)
    if not images:
        raise ValueError(f"query folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)}), neither at its top "
                         "level nor in its subfolders")
    return images, files, truth
