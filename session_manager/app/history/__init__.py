"""A session's history that people can see and move through: undo and redo, the timeline and its
branches, diffs, comparisons of runs, and statistics. Core code: no gradio, no textgen.

../history_entries.py  the history's points and the picker values that name them (the panel's view reads them too)
steps.py     back and forward through a page's own history (undo/redo), surviving a restart
timeline.py  the picture of a session's checkpoints; tree.py the branches that grew from it
diff.py      word diff of two states, with parameter and model changes; diff_html.py draws it
compare.py   runs from different sessions side by side
stats.py     counts per session and for the store; stats_html.py draws them with the activity chart
desk.py      the history's actions as the panel calls them; insight.py the diff, runs and stats ones
"""
