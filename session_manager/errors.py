"""Every error a person may see, as one family of exceptions with actionable messages.

The core raises these; ui.py and cli.py show them. Nothing in the core prints.
"""

from __future__ import annotations

from pathlib import Path


class SessionManagerError(Exception):
    """Base class: the message is written for the person using the tool."""


class NotFound(SessionManagerError):
    """A session or checkpoint id that is not (or no longer) in the store."""


class InvalidId(SessionManagerError):
    """An id that is not of the generated form (a guard against paths in ids)."""


class InvalidName(SessionManagerError):
    """A display name that cannot be used even as a label (empty after cleaning)."""


class InvalidValue(SessionManagerError):
    """A value the store cannot keep (too long, of the wrong kind); nothing was changed."""


class CheckpointTooLarge(InvalidValue):
    """A checkpoint larger than an import reads back from its export (``why`` says how large); nothing was written."""

    def __init__(self, message: str, why: str) -> None:
        self.why = why
        super().__init__(message)


class BrokenFile(SessionManagerError):
    """A file on disk failed validation; it was moved aside to ``moved_to``."""

    def __init__(self, path: Path, reason: str, moved_to: Path | None) -> None:
        self.path = path
        self.reason = reason
        self.moved_to = moved_to
        where = f"; it was moved to {moved_to}" if moved_to else ""
        super().__init__(f"{path} is broken ({reason}){where}")


class StorageError(SessionManagerError):
    """The disk refused a write (full, read-only, permissions). Nothing older was lost."""


class KVError(SessionManagerError):
    """A KV-state snapshot could not be taken or restored; the text is unaffected."""


class SettingsError(SessionManagerError):
    """A settings value is out of range or of the wrong type."""


class ImportFailed(SessionManagerError):
    """A file that cannot be imported; nothing was written."""


class NothingToImport(ImportFailed):
    """A readable file with nothing worth a session in it (empty, or only a starter text); nothing was written."""


class AlreadyImported(NothingToImport):
    """The session a file holds is in the store already (``session_id``, ``name``); nothing was written."""

    def __init__(self, message: str, session_id: str, name: str) -> None:
        self.session_id = session_id
        self.name = name
        super().__init__(message)


class AmbiguousSession(SessionManagerError):
    """A name or id prefix that matches more than one session; ``candidates`` are (id, name) pairs."""

    def __init__(self, query: str, candidates: list[tuple[str, str]]) -> None:
        self.query = query
        self.candidates = candidates
        lines = [f"{len(candidates)} sessions match {query!r}; use one of these ids:"]
        lines += [f"  {session_id}  {name}" for session_id, name in candidates]
        super().__init__("\n".join(lines))


class NewerFormat(SessionManagerError):
    """A file written by a newer Session Manager: it is left exactly where it is, never set aside."""

    def __init__(self, found: int, supported: int, path: Path | None = None) -> None:
        self.found = found
        self.supported = supported
        self.path = path
        where = str(path) if path else "this file"
        super().__init__(f"{where} was written by a newer Session Manager (format {found}; this version reads up "
                         f"to {supported}): update Session Manager to use it; the file was left as it is")

    def at(self, path: Path) -> NewerFormat:
        """The same error, naming the file it was found in."""
        return NewerFormat(self.found, self.supported, path)


class StoreBusy(StorageError):
    """Another program held the store's lock for too long; nothing was changed."""


class GenerationRunning(SessionManagerError):
    """The engine is generating: a restore now would pull the KV cache from under it; nothing was changed."""


class NoEngine(SessionManagerError):
    """The action needs a running model (textgen), and this process has only the store."""


class IndexBusy(StorageError):
    """Another program held index.sqlite longer than a reader waits; the files are untouched."""
