"""S3 through boto3, with the fleet's error policy: a missing object or bucket and refused
credentials fail the activity for good (`NotFound`, `Rejected`), anything else is `Transient`
and retried under the activity's retry policy.

Settings (as the Rust workers read them): S3_ENDPOINT (empty for AWS), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION (us-east-1), path-style addressing.
"""

from __future__ import annotations

import os
from typing import Optional

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from temporalio.exceptions import ApplicationError

from . import contracts as c


def _client():
    endpoint = os.environ.get("S3_ENDPOINT", "http://127.0.0.1:9000") or None
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=32,
        # The embedded endpoint and MinIO do not all take the newer default checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION") or "us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "fleet"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "fleet-secret-key"),
        config=config,
    )


_CLIENT = None


def client():
    """One client per process (boto3 clients are thread-safe; sessions are not)."""
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = _client()
    return _CLIENT


def failure(kind: str, subject: str, reason: str) -> ApplicationError:
    return ApplicationError(f"{subject}: {reason}", type=kind, non_retryable=kind != c.TRANSIENT)


def invalid_input(subject: str, reason: object) -> ApplicationError:
    return failure(c.INVALID_INPUT, subject, str(reason))


def _classify(subject: str, error: Exception) -> ApplicationError:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = error.response.get("Error", {}).get("Message") or code
        if code == "NoSuchBucket":
            bucket = subject[5:].split("/", 1)[0]
            return failure(c.NOT_FOUND, subject, f"bucket {bucket!r} does not exist")
        if code in ("NoSuchKey", "NotFound", "404") or status == 404:
            return failure(c.NOT_FOUND, subject, "object not found")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status in (401, 403):
            return failure(c.REJECTED, subject, f"access denied: {message}")
        return failure(c.TRANSIENT, "storage", f"{subject}: storage request failed: {code} (HTTP {status}): {message}")
    return failure(c.TRANSIENT, "storage", f"{subject}: transient storage failure: {error}")


def get(o: dict) -> bytes:
    try:
        return client().get_object(Bucket=o["bucket"], Key=o["key"])["Body"].read()
    except (ClientError, BotoCoreError) as error:
        raise _classify(c.uri(o), error) from None


def download(o: dict, path: str) -> int:
    """Streams the object to a local file (large images are never held in memory); its size."""
    written = 0
    try:
        body = client().get_object(Bucket=o["bucket"], Key=o["key"])["Body"]
        with open(path, "wb") as out:
            for chunk in body.iter_chunks(1 << 20):
                out.write(chunk)
                written += len(chunk)
    except (ClientError, BotoCoreError) as error:
        raise _classify(c.uri(o), error) from None
    return written


def size(o: dict) -> Optional[int]:
    """The object's size, or None when it does not exist."""
    try:
        return client().head_object(Bucket=o["bucket"], Key=o["key"])["ContentLength"]
    except (ClientError, BotoCoreError) as error:
        classified = _classify(c.uri(o), error)
        if classified.type == c.NOT_FOUND and "does not exist" not in classified.message:
            return None
        raise classified from None


def put(o: dict, body: bytes, content_type: str) -> None:
    try:
        client().put_object(Bucket=o["bucket"], Key=o["key"], Body=body, ContentType=content_type)
    except (ClientError, BotoCoreError) as error:
        raise _classify(c.uri(o), error) from None


def list_page(bucket: str, prefix: str, start_after: Optional[str], max_keys: int) -> tuple[list[dict], Optional[str]]:
    """One page of keys under `prefix` after `start_after`, and the key to continue after."""
    arguments = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
    if start_after:
        arguments["StartAfter"] = start_after
    try:
        page = client().list_objects_v2(**arguments)
    except (ClientError, BotoCoreError) as error:
        raise _classify(f"s3://{bucket}/{prefix}", error) from None
    objects, last_key = [], None
    for item in page.get("Contents", []):
        key = item["Key"]
        last_key = key
        if key.endswith("/") or c.key_problem(key):
            continue
        objects.append(c.obj(bucket, key))
    objects.sort(key=lambda o: o["key"])
    return objects, (last_key if page.get("IsTruncated") else None)
