"""Exceptions raised for bad user input; the CLI turns them into one-line messages."""


class LheDidiError(Exception):
    """Base class of every error caused by input the user can fix (file, option, model)."""


class LheFormatError(LheDidiError):
    """The file is missing, unreadable, not LHE, truncated or corrupt."""


class EventContentError(LheDidiError):
    """An event lacks the dileptonic final state b l+ nu b~ l- nu~ or has non-finite momenta."""

    def __init__(self, event_index: int, reason: str):
        self.event_index = event_index
        self.reason = reason
        super().__init__(f"event {event_index}: {reason}")

    def __reduce__(self):  # sent back from a Dask worker: rebuilt from its own arguments
        return type(self), (self.event_index, self.reason)
