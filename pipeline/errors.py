"""Errors a user can cause and fix. Stage scripts print them without a traceback."""


class MasksetError(Exception):
    """Base class: the message must say what went wrong and what to do about it."""


class ParamsError(MasksetError):
    """params.yaml has an unknown key, a missing key or a value of the wrong type."""


class SourceError(MasksetError):
    """A source is unknown, unreadable or not downloaded."""


class InvariantError(MasksetError):
    """A stage would lose or invent rows: a bug, but reported with the ids involved."""


class ModelFileError(MasksetError):
    """A model file is not what this pipeline writes (refused rather than unpickled)."""


class StageOutputError(MasksetError):
    """A stage's output that a later stage reads is missing or damaged: rebuild it."""
