"""Process-wide runtime: the settings in force and the job queue.

RQ jobs carry only JSON arguments (ids), so a job function finds its settings here. The
web process configures it in the app factory, ``mdm worker`` at start; a job running in
an RQ work-horse with nothing configured reads the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mdm.settings import Settings

if TYPE_CHECKING:
    from mdm.queueing import JobQueue

_settings: Settings | None = None
_queue: JobQueue | None = None


def configure(settings: Settings) -> None:
    global _settings, _queue
    _settings = settings
    _queue = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def queue() -> JobQueue:
    """The queue for this process: RQ when a Redis URL is set, otherwise inline execution."""
    global _queue
    if _queue is None:
        from mdm.queueing import make_queue

        _queue = make_queue(settings())
    return _queue
