loaders_and_params = {"llama.cpp": ["threads", "ctx_size", "cache_type", "extra_flags"]}
