"""routegate inside other programs: each module here is loaded by the program it integrates with.

Each needs its own extra (``routegate[litellm]``); the core never imports them.
"""
