"""The colour latent diffusion model in the making (a miniature Stable Diffusion trained here): the captioned
128 px colour dataset built from packages (`data`) and its AutoencoderKL (`train_vae`). Not yet a technique."""
