"""Logger and metrics shared by every function (Powertools, configured by env).

X-Ray tracing is switched on for the functions in template.yaml (``Tracing: Active``); no SDK
tracer is imported here, to keep cold starts short.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="videojobs")
metrics = Metrics(namespace="videojobs", service="videojobs")
