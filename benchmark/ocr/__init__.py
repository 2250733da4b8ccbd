"""The text recognition benchmark: accuracy on PNG + ground-truth pairs and the read scenario's timings.

Off the runtime path: nothing in the app imports this package; `screensight bench --scenario read-accuracy`
and `--scenario read` do (see assistant/bench.py). score.py holds the pure scoring functions.
"""
