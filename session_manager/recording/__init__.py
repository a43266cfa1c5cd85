"""From what a page shows to saved work: the page mirror, the recorder, the autosave timer, the KV
policy and the protocol a host implements. Core code: no gradio, no textgen.
"""
