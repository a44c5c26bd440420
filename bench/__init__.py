"""The benchmark: seed a database, serve it under gunicorn, drive it, compare to bare Flask."""
