"""gunicorn's settings, read from the folder it is started in (``make demo`` and README's
commands start it here); the command line's ``--workers`` and ``--bind`` add to these.

Threads, not sync workers: a sync worker reads a request's body itself, so a grid worker's
10 MB photo coming over a village's mobile link at a few hundred KB/s held a whole worker (with
two of them, the service answered nothing else, not even /healthz) and was killed at the
worker timeout (30 s) with gunicorn's own HTML 500. A gthread worker's threads read slow bodies
side by side while its main loop keeps the worker alive.
"""

worker_class = "gthread"
threads = 8
