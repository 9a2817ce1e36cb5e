"""The `millimetric` command: run the services, the whole dev stack, migrations and admin tasks."""

__version__ = "0.1.0"
