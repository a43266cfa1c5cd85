"""Session Manager: sessions, checkpoints, autosave and instant resume for local LLM web UIs."""

__version__ = "0.1.0"
