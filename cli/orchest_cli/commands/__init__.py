"""The ``orchest`` command's click groups, one module per noun: ``stack``
(up, down, status, stack-logs, images), ``runs`` (run, runs, logs, abort,
artifacts), ``jobs``, ``sessions``, ``projects`` (projects, pipelines,
init, validate)."""
