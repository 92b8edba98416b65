"""genlab: an interactive lab for AI image generation. `python app.py --help` for options."""

from __future__ import annotations

import argparse
import importlib
import os

import gradio as gr

from genlab.core.devices import tune_threads
from genlab.core.memory import tune_malloc
from genlab.techniques import REGISTRY
from genlab.ui import about, history, send
from genlab.ui.components import EXAMPLES  # the only folder served besides outputs and uploads
from genlab.ui.wiring import HEAVY_LIMIT

MALLOC_TUNED = tune_malloc()  # before any model allocates: freed buffers go back to the OS after each request
THREADS_TUNED = tune_threads()  # before torch loads: idle OpenMP threads spin briefly, then sleep

QUEUE_MAX = 32  # waiting requests beyond this are told the queue is full
MAX_FILE_SIZE = "10mb"  # uploads larger than this are refused by the server


def build_app() -> gr.Blocks:
    with gr.Blocks(title="genlab — see how image generation works", delete_cache=(3600, 7200)) as demo:
        gr.Markdown("# genlab\nStyle transfer, GANs, VAEs and diffusion — run them, watch them work, make images.")
        with gr.Tabs() as tabs:
            for technique in REGISTRY:
                with gr.Tab(technique.TITLE, id=technique.NAME):
                    importlib.import_module(f"{technique.__name__}.ui").build()
            with gr.Tab(history.TITLE, id=history.NAME) as history_tab:
                history.build(history_tab)
            with gr.Tab(about.TITLE, id=about.NAME):
                about.build()
        send.connect(tabs)  # "Send to …" buttons, now that every tab's inputs exist
    demo.queue(max_size=QUEUE_MAX, default_concurrency_limit=HEAVY_LIMIT)
    return demo


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Run the genlab app.")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="default 127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)), help="default 7860")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument("--auth", default=None, metavar="USER:PASS", help="require this login")
    return p.parse_args(argv)


def launch_kwargs(args: argparse.Namespace) -> dict:
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            raise SystemExit("--auth takes USER:PASS")
        auth = (user, password)
    return {
        "server_name": args.host,
        "server_port": args.port,
        "share": args.share,
        "auth": auth,
        "max_file_size": MAX_FILE_SIZE,
        "show_error": False,  # users see genlab's own messages only; other exception text stays in the server log
        "allowed_paths": [str(EXAMPLES)],
        "footer_links": ["api", "gradio"],
    }


demo = build_app()  # Spaces and `gradio app.py` look for `demo`

if __name__ == "__main__":
    demo.launch(**launch_kwargs(parse_args()))
