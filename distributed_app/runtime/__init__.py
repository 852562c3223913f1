"""What runs inside an MPI job's replicas: standard library only, no Django (a replica may run
without the project's packages)."""
