"""The ``orchest`` command: the embedded stack (``up``/``down``) and API calls."""
