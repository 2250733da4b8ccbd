"""What a model load that prepares the model for this computer tells the user (the listener)."""

from __future__ import annotations

from assistant.request_types import EngineListener

PREPARING_MESSAGE = ("Preparing the model for this computer. This is done once; "
                     "the next start is quicker.")
PREPARING_STATUS = "Preparing the model for this computer (once)"


class PreparationProgress:
    """A load's `progress(fraction)` callback: the first call says (spoken, on_status) that the model
    is being prepared, then the listener's `on_progress` gets each whole percent once."""

    def __init__(self, listener: EngineListener, request_id: int) -> None:
        self._listener = listener
        self._request_id = request_id
        self._percent = -1

    @property
    def started(self) -> bool:
        return self._percent >= 0

    def __call__(self, fraction: float) -> None:
        percent = max(0, min(100, int(fraction * 100)))
        if not self.started:
            self._listener.on_status(self._request_id, PREPARING_MESSAGE)
        if percent != self._percent:
            self._percent = percent
            self._listener.on_progress(self._request_id, PREPARING_STATUS, percent)
