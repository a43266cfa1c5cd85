import logging

logger = logging.getLogger("textgen")
