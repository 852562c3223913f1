"""The local backend: replicas as supervised processes on this machine (the embedded default).

`backend.LocalBackend` implements the Backend protocol; `launcher` is the supervisor it starts per
replica. Nothing is imported here, so `python -m ...local.launcher` loads the launcher only once.
"""
