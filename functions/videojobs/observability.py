"""Logger and metrics shared by every function (Powertools, configured by env).

The service name (``POWERTOOLS_SERVICE_NAME``) is the stack name in template.yaml: it is the
``service`` field of every log line and the ``service`` dimension of every metric, so two
stacks in one account keep their figures, and their alarms, apart. The metric names are what
template.yaml's alarms and dashboard read (docs/operations.md lists them).

X-Ray tracing is switched on for the functions in template.yaml (``Tracing: Active``); no SDK
tracer is imported here, to keep cold starts short.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="videojobs")
