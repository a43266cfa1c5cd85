"""The store: sessions, checkpoints, autosaves, marks and KV snapshots as files, with an index beside them.

SessionStore is its one front door; the other modules are its parts.
"""

from .session_store import (
    MAX_NAME_LENGTH,
    BranchLink,
    CheckpointSummary,
    KVBlobInfo,
    SearchHit,
    SessionStore,
    SessionSummary,
    clean_name,
)

__all__ = ["MAX_NAME_LENGTH", "BranchLink", "CheckpointSummary", "KVBlobInfo", "SearchHit", "SessionStore",
           "SessionSummary", "clean_name"]
