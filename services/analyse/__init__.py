"""`sightline analyse`: the pipeline on the recordings a user has, in one command.

``inputs`` expands files, directories and manifests into recordings; ``questions`` and ``consent`` read the
options an HR system would send; ``events`` builds the interview-completed event; ``pipeline`` starts what is
not running (stack, stage processes) and follows progress; ``state`` lets an interrupted batch resume;
``run`` ties them together for ``cli``.
"""
