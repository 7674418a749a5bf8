"""Certificate Transparency SCT lists (RFC 6962 sec. 3.2-3.3): the log IDs they name.

A ``SignedCertificateTimestampList`` travels in three places (RFC 6962 sec. 3.3): the
certificate's precertificate SCT extension, the TLS ``signed_certificate_timestamp``
extension (type 18) and the stapled OCSP response's single extension. The TLS one is
parsed here (the other two by the cryptography package). Only what the informational
check shows is read (version and log ID of each SCT); signatures are not verified (that
needs the logs' keys, which the auditor does not carry). Malformed input yields what was
read before the fault: the list is remote data, never trusted to be well formed.
"""

from __future__ import annotations

import base64

# SCTs per list the scanner keeps: browsers ask for 2-3; anything past this is noise.
MAX_SCTS = 16


def parse_sct_list(data: bytes) -> tuple[str, ...]:
    """Base64 log IDs of the v1 SCTs in a TLS-encoded SignedCertificateTimestampList.

    struct { opaque key_id[32] } LogID; SerializedSCT = opaque <1..2^16-1>;
    SignedCertificateTimestampList = SerializedSCT sct_list <1..2^16-1> (RFC 6962 3.3).
    """
    if len(data) < 2:
        return ()
    total = int.from_bytes(data[:2], "big")
    body = data[2 : 2 + total]
    out: list[str] = []
    pos = 0
    while pos + 2 <= len(body) and len(out) < MAX_SCTS:
        size = int.from_bytes(body[pos : pos + 2], "big")
        sct = body[pos + 2 : pos + 2 + size]
        pos += 2 + size
        if len(sct) != size or size < 1 + 32:
            break  # truncated entry: stop at what was well formed
        if sct[0] != 0:  # only v1 (0) is defined (RFC 6962 sec. 3.2)
            continue
        out.append(base64.b64encode(sct[1:33]).decode("ascii"))
    return tuple(out)


def log_id_b64(log_id: bytes) -> str:
    return base64.b64encode(log_id).decode("ascii")


def sct_list(log_ids: list[bytes], *, timestamp_ms: int = 0) -> bytes:
    """A syntactically valid SCT list naming ``log_ids`` (zero signatures), for labs and
    tests: what a log would issue minus the signature, which nobody here verifies."""
    scts = b""
    for lid in log_ids:
        if len(lid) != 32:
            raise ValueError("a log ID is 32 bytes (SHA-256 of the log key)")
        # version v1, log id, timestamp, no extensions, ecdsa/sha256 (4, 3) + empty signature
        one = b"\x00" + lid + timestamp_ms.to_bytes(8, "big") + b"\x00\x00" + b"\x04\x03\x00\x00"
        scts += len(one).to_bytes(2, "big") + one
    return len(scts).to_bytes(2, "big") + scts


__all__ = ["MAX_SCTS", "log_id_b64", "parse_sct_list", "sct_list"]
