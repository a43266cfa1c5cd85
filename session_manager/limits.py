"""How long a session's words may be: one set of limits for every writer and every reader.

The models (models.py) check them on every write and every read, so what the panel, the API, an
import or the command line can save, the store can read back: a session.json within these limits
stays far below the size a reader accepts (layout.MAX_SESSION_BYTES, 4 MB), even when every
character is one JSON writes as a six-byte escape.
"""

from __future__ import annotations

MAX_NAME_LENGTH = 120  # characters of a session name (a one-line label)
MAX_NOTES_CHARS = 500_000  # characters of a session's notes
MAX_TAGS = 100  # tags of one session
MAX_TAG_CHARS = 100  # characters of one tag
MAX_ORIGIN_CHARS = 2_000  # where an imported session came from (a file's hash, a chat's path)
# One checkpoint (or autosave, session.json, marks.json) as an export holds it: the most an import reads whole
# (its text may take four times this in memory), and so the most a save may write (store/entry_size.py).
MAX_CHECKPOINT_ENTRY_BYTES = 16 << 20
