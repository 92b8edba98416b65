"""The README stays short, its commands are CI's, and the docs build strictly with figures read from the cards."""

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def hooks():
    spec = importlib.util.spec_from_file_location("genlab_docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_the_readme_is_short_and_keeps_the_two_commands():
    text = README.read_text()
    assert len(text.encode()) <= 12_000, len(text.encode())  # a newcomer reads it in two minutes
    blocks = bash_blocks(text)
    assert "pip install -r requirements.txt && python app.py" in blocks
    assert any(b.endswith("python -m pytest") for b in blocks)
    for shot in re.findall(r"\]\((examples/screenshots/[^)]+)\)", text):  # the screenshots are there
        assert (ROOT / shot).is_file(), shot


def test_ci_runs_exactly_the_readmes_test_command():
    (readme_cmd,) = [b for b in bash_blocks(README.read_text()) if b.endswith("python -m pytest")]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    # CI adds only quiet flags and sudo for a non-root runner
    ci_words = [w for w in shlex.split(ci) if w not in ("-q", "$SUDO")]
    assert ci_words == shlex.split(readme_cmd), (ci_words, shlex.split(readme_cmd))


def test_every_relative_link_in_the_readme_and_docs_exists():
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            base = ROOT if page == README or target.startswith("examples/") else page.parent
            assert (base / target).exists(), (page.name, target)


def test_the_docs_build_strictly_and_show_the_cards_figures(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    site = tmp_path / "site"
    measured = (site / "measurements" / "index.html").read_text()
    metrics = json.loads((ROOT / "weights" / "metrics.json").read_text())
    dcgan = next(r for r in metrics["rows"] if r["model"].startswith("DCGAN"))
    assert f"<td>{dcgan['fid']:.2f}</td>" in measured  # the table is the card's, not typed
    vae = json.loads((ROOT / "weights" / "colour_vae.json").read_text())
    assert f"{vae['metrics']['psnr']:.2f} dB" in measured
    assert "figures:" not in measured.replace("built from the figures:", "")  # every marker was replaced
    models = (site / "models" / "index.html").read_text()
    assert json.loads((ROOT / "weights" / "dcgan.json").read_text())["command"] in models
    home = (site / "index.html").read_text()
    assert "Run the app" in home and "Run the whole test suite" in home and "examples/screenshots/tab-gan.png" in home
    assert (site / "examples" / "screenshots" / "tab-gan.png").is_file()  # the pictures are served


def test_an_unknown_figures_marker_fails_the_build():
    h = hooks()
    assert "| DCGAN" in h.render("<!-- figures: fashion-metrics -->")
    with pytest.raises(ValueError, match="unknown figures marker 'fashion-metric'"):
        h.render("text\n<!-- figures: fashion-metric -->\n")


def test_the_zerogpu_table_is_each_techniques_own_figure():
    from genlab.techniques import REGISTRY

    text = hooks().gpu_seconds()
    for t in REGISTRY:
        assert f"| {t.TITLE} | `{t.NAME}` | {t.GPU_SECONDS} s |" in text


def test_the_control_colour_word_p_values_are_mcnemars_exact_test():
    """benchmarks/control.py --colour-words: the p printed beside each arm is the two-sided exact binomial test
    of the discordant pictures (scipy's binomtest gives the same)."""
    from scipy.stats import binomtest

    spec = importlib.util.spec_from_file_location("genlab_bench_control", ROOT / "benchmarks" / "control.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for lost, gained in [(11, 8), (15, 7), (20, 8), (3, 1), (5, 5)]:
        assert bench._sign_test(lost, gained) == pytest.approx(binomtest(gained, lost + gained).pvalue, abs=1e-9)
    assert bench._sign_test(0, 0) == 1.0
    cw = json.loads((ROOT / "weights" / "colour_controlnet.json").read_text())["colour_words_fresh"]
    for f in cw.values():
        if isinstance(f, dict) and "mcnemar_p" in f:
            assert f["mcnemar_p"] == round(bench._sign_test(f["obeyed_only_without"], f["obeyed_only_with"]), 3)
