def list_model_elements() -> list[str]:
    return ["threads", "ctx_size", "cache_type", "extra_flags"]
