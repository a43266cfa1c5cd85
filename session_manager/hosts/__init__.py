"""Adapters to the web UIs the panel runs in: textgen/ (text-generation-webui) and demo/ (the standalone host)."""
