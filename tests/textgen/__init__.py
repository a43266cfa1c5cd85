"""Tests in the real textgen (text-generation-webui) at the commit the README names."""
