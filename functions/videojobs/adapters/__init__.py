"""Adapters: every module that talks to AWS or an HTTP endpoint, and turns the SDK's errors
into the domain errors of ``videojobs.models.errors``. Nothing outside this package imports
boto3, botocore or httpx to make a call.

Here: boto3 clients (``aws``), Step Functions (``workflow``), EventBridge (``eventbus``), SQS
(``callback_queue``, ``queues``), KMS (``callback_secrets``), Secrets Manager
(``credentials``) and the callback POST (``callback_sender``); and three packages: DynamoDB
tables (``dal``), S3 assets (``storage``) and the video providers (``providers``).
"""
