"""This visit's pictures: every PNG a request saves is recorded under the visitor's session, so the History tab
can show them all and zip them. Kept in memory (at most MAX_PER_SESSION per session, oldest dropped); the files
themselves are swept with the other outputs (genlab.core.outputs)."""

from __future__ import annotations

import threading
import zipfile
from collections import OrderedDict, deque
from contextlib import contextmanager
from pathlib import Path

MAX_PER_SESSION = 200
MAX_SESSIONS = 500  # least recently used sessions are forgotten beyond this

_lock = threading.Lock()
_sessions: OrderedDict[str, deque[Path]] = OrderedDict()
_current = threading.local()  # the session whose request is rendering on this thread


def session_of(request) -> str | None:
    """The visitor's session id of a Gradio request (None outside one, e.g. in tests)."""
    return getattr(request, "session_hash", None)


@contextmanager
def session(session_id: str | None):
    """PNGs saved inside this block (on this thread) belong to session_id's history."""
    before = getattr(_current, "id", None)
    _current.id = session_id
    try:
        yield
    finally:
        _current.id = before


def record(path: Path) -> None:
    """Called by genlab.core.outputs for every PNG it writes."""
    sid = getattr(_current, "id", None)
    if not sid:
        return
    with _lock:
        items = _sessions.setdefault(sid, deque(maxlen=MAX_PER_SESSION))
        items.append(Path(path))
        _sessions.move_to_end(sid)
        while len(_sessions) > MAX_SESSIONS:
            _sessions.popitem(last=False)


def pictures(session_id: str | None) -> list[Path]:
    """The session's pictures that still exist, newest first."""
    with _lock:
        items = list(_sessions.get(session_id or "", ()))
    return [p for p in reversed(items) if p.is_file()]


def zip_all(session_id: str | None, out: Path) -> Path:
    """A zip of the session's pictures (each PNG keeps its recipe); ValueError when there is none yet."""
    items = pictures(session_id)
    if not items:
        raise ValueError("Nothing to download yet: the pictures you make in any tab collect here.")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:  # PNGs are compressed already
        for i, p in enumerate(reversed(items), start=1):
            z.write(p, f"{i:03d}-{p.name}")
    return out
