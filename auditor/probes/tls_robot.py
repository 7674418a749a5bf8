"""ROBOT: a Bleichenbacher padding oracle in RSA key exchange (tls.vuln.robot; issue 19).

The method of the ROBOT paper (Böck, Somorovsky, Young, USENIX Security 2018) as sslyze
and testssl.sh run it: offer one TLS_RSA_* suite, read the flight to ServerHelloDone, then
send a ClientKeyExchange holding one of five crafted PKCS#1 v1.5 (RFC 8017 sec. 7.2)
ciphertexts, followed by ChangeCipherSpec and a Finished that cannot verify, and record
how the server reacts (which alert, connection closed, silence). A server without an
oracle reacts identically to all five (RFC 5246 sec. 7.4.7.1: treat a bad premaster like
a random one); different reactions are an oracle an attacker can use to decrypt recorded
sessions or sign with the server's key.

* strong oracle: the ciphertext whose plaintext does not start 0x00 0x02 is answered
  differently from the correct one (the classic, fast Bleichenbacher oracle);
* weak oracle: only the payloads that pass that first check are told apart.

Bounds (the caller, auditor/probes/tls_depth.py): only when the enumeration found a
TLS_RSA_* suite (a modern site pays nothing); five connections, five more only to repeat
a difference (an inconsistent repeat is not_tested, never a verdict); hand-built records
(auditor/probes/tls_hello.py), each reaction read for at most a few bytes and seconds.

Nothing here talks to the network: these are the pure parts (payloads, the verdict).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from auditor.obs.tls import Depth

CT_HANDSHAKE = 22
HS_CLIENT_KEY_EXCHANGE = 16

# Payload names, in the order they are sent (sslyze's _RobotPmsPaddingPayloadEnum)
VALID = "valid"
WRONG_FIRST_BYTES = "wrong_first_two_bytes"
WRONG_00_POSITION = "00_on_the_wrong_position"
NO_00 = "no_00_in_the_middle"
WRONG_VERSION = "wrong_version_number"
PAYLOADS = (VALID, WRONG_FIRST_BYTES, WRONG_00_POSITION, NO_00, WRONG_VERSION)
PMS_RANDOM = 46  # RFC 5246 sec. 7.4.7.1: PreMasterSecret = client_version + 46 random bytes


def _padding(n: int) -> bytes:
    """``n`` random non-zero bytes (PKCS#1 v1.5 PS, RFC 8017 sec. 7.2.1)."""
    out = bytearray()
    while len(out) < n:
        out += bytes(b for b in os.urandom(n - len(out) + 16) if b)
    return bytes(out[:n])


def plaintexts(modulus_bytes: int, client_version: int) -> dict[str, bytes]:
    """The five encoded messages, each exactly ``modulus_bytes`` long (sslyze's layouts)."""
    if modulus_bytes < 64:
        raise ValueError("RSA modulus too short for the ROBOT payloads")
    # Non-zero like the padding: a 0x00 inside the premaster would be an earlier separator
    # and make the "0x00 in the wrong place" message a conformant one with a short premaster
    # (a zero among 46 random bytes: one message in six), blurring the five categories.
    pms = _padding(PMS_RANDOM)
    ver = client_version.to_bytes(2, "big")
    pad = _padding(modulus_bytes - 3 - 2 - PMS_RANDOM)
    out = {
        VALID: b"\x00\x02" + pad + b"\x00" + ver + pms,
        WRONG_FIRST_BYTES: b"\x41\x17" + pad + b"\x00" + ver + pms,
        WRONG_00_POSITION: b"\x00\x02" + pad + b"\x11" + pms + b"\x00\x11",
        NO_00: b"\x00\x02" + pad + b"\x11\x11\x11" + pms,
        WRONG_VERSION: b"\x00\x02" + pad + b"\x00\x02\x02" + pms,
    }
    assert all(len(m) == modulus_bytes for m in out.values())
    return out


def encrypt_raw(message: bytes, n: int, e: int) -> bytes:
    """Textbook RSA (the padding is in ``message`` already): m^e mod n, big-endian."""
    k = (n.bit_length() + 7) // 8
    return pow(int.from_bytes(message, "big"), e, n).to_bytes(k, "big")


def client_key_exchange(ciphertext: bytes) -> bytes:
    """The ClientKeyExchange handshake message (TLS >= 1.0: the ciphertext with a 2-byte
    length, RFC 5246 sec. 7.4.7.1)."""
    body = len(ciphertext).to_bytes(2, "big") + ciphertext
    return bytes((HS_CLIENT_KEY_EXCHANGE,)) + len(body).to_bytes(3, "big") + body


def verdict(first: Sequence[str], repeat: Sequence[str] | None) -> tuple[str, str, str]:
    """(Depth outcome, oracle "strong"/"weak"/"", detail) from the reactions, in PAYLOADS
    order. ``repeat`` is the second round, run only when the first showed a difference."""
    shown = ", ".join(f"{p}={r}" for p, r in zip(PAYLOADS, first, strict=True))
    if len(set(first)) == 1:
        return Depth.NOT_VULNERABLE, "", f"the same reaction to all five payloads ({first[0]})"
    if repeat is None:
        return "", "", f"reactions differ ({shown}); not repeated"
    if list(repeat) != list(first):
        again = ", ".join(repeat)
        return "", "", f"reactions differ but not consistently ({shown}; repeat: {again})"
    strong = first[PAYLOADS.index(WRONG_FIRST_BYTES)] != first[PAYLOADS.index(VALID)]
    oracle = "strong" if strong else "weak"
    return Depth.VULNERABLE, oracle, f"{oracle} oracle, reactions repeat: {shown}"


__all__ = [
    "PAYLOADS",
    "client_key_exchange",
    "encrypt_raw",
    "plaintexts",
    "verdict",
]
