"""The errors a user can act on, in one place. Each is a `StudioError` whose message names what is wrong and what to
do instead; the app shows them as messages (anything else is a bug: logged, and a short message), and the command
line exits with each kind's `exit_code`. Nothing here imports the rest of the project."""

from __future__ import annotations


class StudioError(Exception):
    """An error the user can act on; `exit_code` is the command line's for it."""

    exit_code = 2


class InputError(StudioError, ValueError):
    """A request parameter the user can fix."""


class CardError(InputError):
    """A card that cannot be read: the message names the key and what it takes."""


class ModelLoadError(StudioError, RuntimeError):
    """A model that could not be loaded; the message names it as the user gave it and says what is wrong."""

    exit_code = 3


class WrongModelError(ModelLoadError):
    """A checkpoint loaded but is not the kind a mode needs (e.g. an SD base where Instruct-Pix2Pix is asked)."""


class OutOfMemory(StudioError, RuntimeError):
    """A generation ran out of (GPU or CPU) memory; memory was freed and the message says what to lower."""

    exit_code = 4


class OutputError(StudioError, RuntimeError):
    """A video could not be written (disk full, folder not writable, encoder failure). Nothing was left under the
    final name, and the message says why in words a user can act on."""

    exit_code = 4


class Cancelled(StudioError):
    """The request was stopped (Stop button, closed tab, API cancel); its partial work was dropped."""

    exit_code = 130
