from pathlib import Path
from types import SimpleNamespace

args = SimpleNamespace(loader="llama.cpp", ctx_size=2048, threads=2, extra_flags=None, multi_user=False,
                       cache_type="fp16")
settings: dict = {}
default_settings: dict = {}
model = None
model_name = "None"
tokenizer = None
user_data_dir = Path("user_data")
gradio: dict = {}
input_elements: list = ["temperature", "seed", "max_new_tokens", "textbox-default", "output_textbox",
                        "textbox-notebook", "prompt_menu-default", "prompt_menu-notebook", "show_two_notebook_columns",
                        "ctx_size", "history", "mode"]
stop_everything = False
persistent_interface_state: dict = {}
