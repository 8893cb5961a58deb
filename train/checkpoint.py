"""Atomic, resumable checkpoints with orbax.

``Checkpoints(directory, every=N)`` saves a pytree (and a small JSON dict of
metadata, e.g. a training history) every N steps (orbax writes to a temporary
folder and renames it, so a killed run never leaves a half checkpoint) and
``restore_latest(template)`` returns ``(step, state, meta)`` of the newest one,
or ``(0, template, None)`` when there is none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp


class Checkpoints:
    """Periodic checkpoints of a training state under ``directory``."""

    def __init__(self, directory: Path, every: int = 1, keep: int = 2):
        if every < 1:
            raise ValueError(f"checkpoint interval must be >= 1 step, got {every}")
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=every, max_to_keep=keep, enable_async_checkpointing=False
        )
        self.manager = ocp.CheckpointManager(Path(directory).resolve(), options=options)

    def save(self, step: int, state: Any, meta: dict | None = None, force: bool = False) -> bool:
        """Save ``state`` (and the JSON-ready ``meta``) at ``step`` if the interval says so (or ``force``)."""
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta or {}))
        saved = self.manager.save(step, args=args, force=force)
        self.manager.wait_until_finished()
        return saved

    def restore_latest(self, template: Any) -> tuple[int, Any, dict | None]:
        """``(step, state, meta)`` of the newest checkpoint, or ``(0, template, None)`` if there is none."""
        step = self.manager.latest_step()
        if step is None:
            return 0, template, None
        args = ocp.args.Composite(state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore())
        restored = self.manager.restore(step, args=args)
        return step, restored["state"], restored["meta"]

    def close(self) -> None:
        self.manager.close()
