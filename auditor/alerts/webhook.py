"""The webhook: one JSON document per scan with alerts, POSTed with httpx, signed, retried.

Signature (docs/ALERTS.md has the receiver's recipe): ``X-Auditor-Timestamp: <unix
seconds>`` and ``X-Auditor-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
body)>``. The timestamp is inside the signed text so a captured request cannot be replayed
later with a fresh timestamp; the receiver rejects timestamps older than a few minutes.
The scheme is the one GitHub and Stripe webhooks use, hand-written here because it is
twelve lines of the standard library's ``hmac`` and no library owns it.

Delivery: five attempts at most, waiting 1, 2, 4 and 8 s between them (exponential
backoff), never longer than the transport's ``deadline`` in all; retried on a connection
failure, a timeout, 429 and 5xx; another 4xx is the receiver saying no, not retried.
``X-Auditor-Delivery`` is the same id on every attempt, so a receiver that got a request
whose answer was lost can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from auditor import __version__
from auditor.alerts.changes import ScanAlerts
from auditor.alerts.config import WebhookTransport
from auditor.text import one_line

__all__ = [
    "PAYLOAD_VERSION",
    "WebhookResult",
    "payload",
    "post_webhook",
    "sign",
    "verify_signature",
]

PAYLOAD_VERSION = 1
SIGNATURE_HEADER = "X-Auditor-Signature"
TIMESTAMP_HEADER = "X-Auditor-Timestamp"
DELIVERY_HEADER = "X-Auditor-Delivery"
TOLERANCE = 300  # seconds a receiver accepts a timestamp from the past (or future)
_ANSWER_CAP = 4096  # bytes of the receiver's answer read (for the error message only)


@dataclass(frozen=True)
class WebhookResult:
    url: str
    ok: bool
    attempts: int
    status: int | None  # the last HTTP status, None when no answer came
    detail: str  # "" when delivered


def payload(scan: ScanAlerts) -> dict[str, Any]:
    """The JSON document (schema in docs/ALERTS.md)."""
    before = scan.before
    return {
        "version": PAYLOAD_VERSION,
        "event": "scan.alerts",
        "tool": f"auditor {__version__}",
        "scan": {
            "id": scan.after.id,
            "started": scan.after.started,
            "finished": scan.after.finished,
            "inventory": scan.after.inventory_name,
            "profile": scan.profile.name,
        },
        "previous_scan": (
            {"id": before.id, "started": before.started, "finished": before.finished}
            if before
            else None
        ),
        "summary": {
            "agencies": len(scan.agencies),
            "alerts": scan.alert_count(),
            "improvements": scan.improvement_count(),
        },
        "certificate_expiry_days": scan.profile.alert_cert_days,
        "agencies": [a.to_dict() for a in scan.agencies],
    }


def body_of(document: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (compact, UTF-8)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE,
) -> bool:
    """What a receiver does: the timestamp is recent and the signature matches (compared
    in constant time, so timing does not reveal how much of a forgery was right)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def post_webhook(
    transport: WebhookTransport,
    document: Mapping[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WebhookResult:
    """POST ``document`` until it is accepted (2xx), refused (4xx other than 429), or the
    attempts or the deadline run out. Never raises for a network problem: it is a result."""
    body = body_of(document)
    delivery = str(uuid.uuid4())
    start = clock()
    timeout = httpx.Timeout(transport.timeout, connect=min(transport.timeout, 10.0))
    waits = (*transport.backoff, None)
    attempts = 0
    status: int | None = None
    detail = ""
    # The system's trust store (or ca_file), not a bundle of the library's own; TLS 1.2 at
    # least (RFC 8996). No redirects: a 3xx would carry the signed alerts elsewhere. No
    # proxy from the environment: the receiver is the one configured, directly.
    verify = ssl.create_default_context(cafile=transport.ca_file)
    verify.minimum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, verify=verify
    ) as client:
        for wait in waits:
            attempts += 1
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"auditor/{__version__}",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(transport.secret, timestamp, body),
                DELIVERY_HEADER: delivery,
            }
            try:
                with client.stream("POST", transport.url, content=body, headers=headers) as r:
                    status = r.status_code
                    answer = b""
                    for chunk in r.iter_bytes():
                        answer += chunk
                        if len(answer) >= _ANSWER_CAP:
                            break
                if 200 <= status < 300:
                    return WebhookResult(transport.url, True, attempts, status, "")
                text = one_line(answer[:_ANSWER_CAP].decode("utf-8", "replace"), 200)
                detail = f"HTTP {status}" + (f": {text}" if text else "")
                if not _retryable(status):
                    break
            except httpx.TimeoutException:
                status, detail = None, "timed out"
            except httpx.HTTPError as exc:
                status, detail = None, one_line(f"{type(exc).__name__}: {exc}", 200)
            if wait is None or clock() - start + wait > transport.deadline:
                break
            sleep(wait)
    return WebhookResult(transport.url, False, attempts, status, detail)
