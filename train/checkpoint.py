"""Atomic, resumable checkpoints with orbax.

``Checkpoints(directory, every=N)`` saves a pytree every N steps (orbax writes
to a temporary folder and renames it, so a killed run never leaves a half
checkpoint) and ``restore_latest(template)`` returns ``(step, state)`` of the
newest one, or ``(0, template)`` when there is none.
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

    def save(self, step: int, state: Any, force: bool = False) -> bool:
        """Save ``state`` at ``step`` if the interval says so (or ``force``)."""
        saved = self.manager.save(step, args=ocp.args.StandardSave(state), force=force)
        self.manager.wait_until_finished()
        return saved

    def restore_latest(self, template: Any) -> tuple[int, Any]:
        """``(step, state)`` of the newest checkpoint, or ``(0, template)`` if there is none."""
        step = self.manager.latest_step()
        if step is None:
            return 0, template
        return step, self.manager.restore(step, args=ocp.args.StandardRestore(template))

    def close(self) -> None:
        self.manager.close()
