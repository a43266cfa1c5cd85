"""Adapters to the web UIs the panel runs in: textgen.py and demo.py."""
