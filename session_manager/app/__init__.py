"""What the panel (and the API) do, without gradio: the workspace (the one front door), the panel's
state, the history and the exchange of files.
"""
