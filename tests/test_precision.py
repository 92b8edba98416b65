"""BF16 autocast on the CPU (genlab.core.devices): the switch, and what it keeps of the colour model's pictures.

Other tests run in float32 (conftest) so their pinned slices hold on any CPU; here GENLAB_PRECISION is set per
test. The tolerance adopted in benchmarks/precision.py: a mean difference under 2 levels, the same judged hue."""

import numpy as np
import pytest
import torch
from support import tiny_colour_pipeline

from genlab.core import devices
from genlab.core.devices import autocast, cpu_bf16, cpu_generator, precision_label


def test_the_switch_reads_genlab_precision(monkeypatch):
    monkeypatch.setenv("GENLAB_PRECISION", "fp32")
    assert not cpu_bf16() and precision_label(torch.device("cpu")) == "float32"
    monkeypatch.setenv("GENLAB_PRECISION", "BF16")
    assert cpu_bf16() and precision_label(torch.device("cpu")) == "bf16 autocast"
    monkeypatch.delenv("GENLAB_PRECISION")
    assert cpu_bf16() == devices._cpu_has_bf16()  # the default follows the CPU's instructions
    monkeypatch.setenv("GENLAB_PRECISION", "fp16")
    with pytest.raises(ValueError, match="GENLAB_PRECISION must be fp32 or bf16"):
        cpu_bf16()


def test_vgg_convolves_in_bf16_and_hands_back_float32_unless_a_judge(monkeypatch):
    """Style transfer's and Deep Dream's VGG: bf16 convolutions when on, float32 activations for the Gram matrices,
    losses and gradients; a judge (mixed=False, the colour VGG judge) stays float32 under any switch."""
    from genlab.colour.evaluate import VGGJudge
    from genlab.models.vgg import VGGFeatures

    torch.manual_seed(0)
    net = VGGFeatures("vgg16", "torchvision", last="relu2_1")
    seen = []
    net.features[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x = torch.rand(1, 3, 32, 32)
    monkeypatch.setenv("GENLAB_PRECISION", "bf16")
    low = net(x, {"relu2_1"})["relu2_1"]
    monkeypatch.setenv("GENLAB_PRECISION", "fp32")
    full = net(x, {"relu2_1"})["relu2_1"]
    assert seen == [torch.bfloat16, torch.float32] and low.dtype == full.dtype == torch.float32
    assert (low - full).abs().mean() < 0.02 * full.abs().mean()
    monkeypatch.setenv("GENLAB_PRECISION", "bf16")
    net.mixed = False
    net(x, {"relu2_1"})
    assert seen[-1] == torch.float32
    judge = VGGJudge.load_backbone()
    judge.features[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    judge(x, {"relu1_1"})
    assert seen[-1] == torch.float32


def test_autocast_runs_matmuls_in_bf16_only_when_on(monkeypatch):
    lin = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    monkeypatch.setenv("GENLAB_PRECISION", "bf16")
    with autocast(torch.device("cpu")):
        assert lin(x).dtype == torch.bfloat16
    monkeypatch.setenv("GENLAB_PRECISION", "fp32")
    with autocast(torch.device("cpu")):
        assert lin(x).dtype == torch.float32
    monkeypatch.setenv("GENLAB_PRECISION", "bf16")
    with autocast(torch.device("cuda")):  # half-precision weights there already: no autocast (and no CUDA call)
        assert lin(x).dtype == torch.float32


def _pictures(pipe, monkeypatch, precision: str, **kw) -> np.ndarray:
    monkeypatch.setenv("GENLAB_PRECISION", precision)
    with torch.inference_mode():
        x = pipe(
            ["a red apple", "a blue car"],
            num_inference_steps=kw.pop("steps", 4),
            generator=[cpu_generator(k) for k in range(2)],
            output_type="pt",
            **kw,
        ).images
    assert x.dtype == torch.float32 and torch.isfinite(x).all()
    return x.permute(0, 2, 3, 1).numpy() * 255


def test_tiny_pipeline_under_bf16_is_close_to_float32_and_repeatable(monkeypatch):
    pipe = tiny_colour_pipeline()
    seen = []
    pipe.unet.register_forward_hook(lambda m, a, out: seen.append(out.sample.dtype))
    f = _pictures(pipe, monkeypatch, "fp32")
    b = _pictures(pipe, monkeypatch, "bf16")
    assert seen[0] == torch.float32 and seen[-1] == torch.bfloat16  # the UNet really ran under autocast
    d = np.abs(f - b)
    assert 0 < d.mean() < 2, d.mean()  # computed differently, the same pictures within the tolerance
    assert np.array_equal(b, _pictures(pipe, monkeypatch, "bf16"))  # same seeds, same call: the same pixels


def test_shipped_colour_model_and_controlnet_keep_their_pictures_under_bf16(monkeypatch):
    from genlab.colour import control, ldm
    from genlab.colour.evaluate import dominant_hue

    pipe = ldm.load_pipeline()
    f, b = _pictures(pipe, monkeypatch, "fp32", steps=10), _pictures(pipe, monkeypatch, "bf16", steps=10)
    assert np.abs(f - b).mean() < 2
    hues = [dominant_hue(x.round().astype(np.uint8)) for x in (*f, *b)]
    assert hues[:2] == hues[2:] == ["red", "blue"], hues
    net, _ = control.load_controlnet()
    ring = np.zeros((1, 128, 128), np.uint8)
    ring[0, 30:98, 30:33] = ring[0, 30:98, 95:98] = ring[0, 30:33, 30:98] = ring[0, 95:98, 30:98] = 255
    kw = dict(controlnet=net, image=control.to_control(ring), steps=10)
    fc, bc = _pictures(pipe, monkeypatch, "fp32", **kw), _pictures(pipe, monkeypatch, "bf16", **kw)
    assert np.abs(fc - bc).mean() < 2
    f1 = [control.edge_f1(control.canny(x.round().astype(np.uint8)[None])[0], ring[0]) for x in (*fc, *bc)]
    assert abs(np.mean(f1[:2]) - np.mean(f1[2:])) < 0.05, f1
