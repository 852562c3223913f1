"""The local backend: replicas as supervised processes on this machine (the embedded default).

`backend.LocalBackend` implements the Backend protocol; `launcher` is the supervisor it starts per
replica (`start`), standard library only. The run folders' layout, the replicas' environment and
addresses, their processes, status and logs each have a module of that name. Nothing is imported
here, so `python -m ...local.launcher` loads the launcher only once.
"""
