"""Style transfer: tiny random VGG for the mechanics, the real backbone for faithfulness and effect."""

import numpy as np
import pytest
import torch
from PIL import Image

from genlab import style_transfer as st

EX = st.Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def tiny_vgg():
    torch.manual_seed(0)
    net = st.VGGFeatures("vgg16", "torchvision", "relu5_1")
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.05)
    return net.eval()


def photo(w=64, h=48, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


SMALL = dict(size=128, steps=6, coarse_steps=4, levels=2, preview_every=2)


def test_loss_decreases_and_output_shape(tiny_vgg):
    s = st.StyleSettings(**SMALL)
    runs = list(st.stylise(tiny_vgg, photo(96, 64), [photo(50, 50, 1)], s))
    last = runs[-1]
    assert last.done and last.step == 10 and last.total == 10
    assert last.image.size == (128, 85) and last.image.mode == "RGB"
    level2 = [h["total"] for h in last.history if h["level"] == 2]
    assert level2[-1] < level2[0]
    assert len(runs) == 6  # a preview every 2 iterations + the final one


def test_noise_init_is_seed_repeatable(tiny_vgg):
    s = st.StyleSettings(**{**SMALL, "init": "noise", "optimizer": "adam", "levels": 1, "size": 128, "seed": 3})
    a = st.run(tiny_vgg, photo(), [photo(seed=1)], s).image
    b = st.run(tiny_vgg, photo(), [photo(seed=1)], s).image
    c = st.run(tiny_vgg, photo(), [photo(seed=1)], st.StyleSettings(**{**s.__dict__, "seed": 4})).image
    assert np.array_equal(np.asarray(a), np.asarray(b)) and not np.array_equal(np.asarray(a), np.asarray(c))


def test_stop_ends_within_one_step(tiny_vgg):
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 3

    last = st.run(tiny_vgg, photo(), [photo(seed=1)], st.StyleSettings(**{**SMALL, "steps": 50}), should_stop=should_stop)
    assert last.done and last.step == 3 and last.image.size[0] > 0


def test_blend_preserve_colours_and_validation(tiny_vgg):
    s = st.StyleSettings(**{**SMALL, "preserve_colors": True, "style_blend": 0.3})
    last = st.run(tiny_vgg, photo(), [photo(seed=1), photo(seed=2)], s)
    assert last.image.mode == "RGB"
    for bad in ({"size": 5000}, {"steps": 0}, {"optimizer": "sgd"}, {"content_weight": float("nan")}, {"style_blend": 2}):
        with pytest.raises(ValueError):
            st.StyleSettings(**bad).validate()


def test_onnx_conversion_matches_onnxruntime():
    """The converted VGG16 gives the ONNX model's own block3_conv1 activations."""
    import onnx
    import onnxruntime as ort

    net, label = st.load_vgg(last="relu3_1")
    assert "VGG" in label
    model = onnx.load(str(st._onnx_path()))
    name = "functional_1/block3_conv1_1/Relu:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = st.to_tensor(Image.open(EX / "content/chelsea.jpg").convert("RGB").resize((240, 240)))
    caffe = (x.flip(1) * 255 - torch.tensor(st.CAFFE_MEAN_BGR).view(1, 3, 1, 1)).permute(0, 2, 3, 1).numpy()
    ref = sess.run([name], {"input": caffe})[0]
    ours = net(x, {"relu3_1"})["relu3_1"].numpy()
    assert ref.shape == ours.shape
    assert np.abs(ref - ours).max() <= 1e-4 * np.abs(ref).max()


def test_real_stylisation_lowers_style_loss_tenfold():
    net, _ = st.BACKBONES.get("default")
    content = Image.open(EX / "content/chelsea.jpg").convert("RGB")
    style = Image.open(EX / "styles/hokusai_great_wave.jpg").convert("RGB")
    s = st.StyleSettings(size=128, levels=1, steps=30, preview_every=30)
    last = st.run(net, content, [style], s)
    assert last.history[0]["step"] == 0  # the content initialisation itself
    first, final = last.history[0]["style"], last.history[-1]["style"]
    assert final * 10 <= first, (first, final)


def test_fast_mode_non_square():
    im = st.fast_stylise(photo(300, 180), Image.open(EX / "styles/munch_the_scream.jpg").convert("RGB"), strength=0.8, size=256)
    assert im.size == (256, 154)
    with pytest.raises(ValueError, match="strength"):
        st.fast_stylise(photo(), photo(), strength=1.5)
