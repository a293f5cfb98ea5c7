"""Adapters: the modules that talk to AWS or an HTTP endpoint, and turn the SDK's errors into
the domain errors of ``videojobs.models.errors``.

Here: boto3 clients (``aws``), Step Functions (``workflow``), EventBridge (``eventbus``), SQS
(``callback_queue``, ``queues``), KMS (``callback_secrets``), Secrets Manager
(``credentials``) and the callback POST (``callback_sender``). DynamoDB (``videojobs.dal``),
S3 (``videojobs.storage``) and the video providers (``videojobs.providers``) are adapters too,
in packages of their own.
"""
