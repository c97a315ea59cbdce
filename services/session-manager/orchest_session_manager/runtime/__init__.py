"""Where sessions run: the runtime port (``base``) and its implementations.

Kept free of imports: ``detach.py`` runs as a script next to it.
"""
