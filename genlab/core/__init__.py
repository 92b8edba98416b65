"""Pieces every technique shares, written once.

control   one request's Stop flag, deadline and work budget; running callback-style loops as generators
settings  frozen Settings dataclasses whose fields own their bounds, labels and defaults
steps     what run() yields: Update while working, then a Result
weights   where weights come from (explicit, env, hub cache, hub, shipped), safetensors only, lazy loading
images    opening and checking uploads; tensors <-> pictures; strips
recipes   the recipe a PNG carries;  outputs  generated file names, PNGs and GIFs
devices   CUDA or CPU, and dtypes;  packages  files inside installed packages
memory    glibc malloc tuning;  cards  model cards and metrics shipped in weights/
"""
