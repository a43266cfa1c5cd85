"""The few parts of textgen's `modules` package the extension reads, for tests where textgen is absent."""
