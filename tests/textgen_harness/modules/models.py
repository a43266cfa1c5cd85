active_generation_count = 0
