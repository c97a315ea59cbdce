"""Environment builders: a process build (a virtual environment) and a
docker build (an image); ``docs/environments.md``."""
