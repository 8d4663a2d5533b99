"""Who may use the control panel, and as what: passwords kept only as salted hashes.

The UI has two roles: `operator` (may pause, kill, edit and run) and `viewer` (reads only).
Each role's password is given to the UI as a hash in the environment, never in YAML and never
in clear: `BOTFLEET_UI_PASSWORD_HASH` (operator) and `BOTFLEET_UI_VIEWER_HASH` (viewer).
`botfleet ui hash-password` makes one. Two formats, both from the standard library:

    scrypt$<n>$<r>$<p>$<salt base64>$<hash base64>
    pbkdf2_sha256$<iterations>$<salt base64>$<hash base64>

scrypt is the default (memory-hard); PBKDF2 is there for hosts whose OpenSSL lacks scrypt.
Checks compare in constant time, and an unreadable hash is an error that names the variable,
so a typo in the environment is found at startup rather than as "wrong password".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

OPERATOR, VIEWER = "operator", "viewer"
ROLE_ENV = {OPERATOR: "BOTFLEET_UI_PASSWORD_HASH", VIEWER: "BOTFLEET_UI_VIEWER_HASH"}
METHODS = ("scrypt", "pbkdf2_sha256")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_ITERATIONS = 600_000


class AccessError(ValueError):
    """A password hash that cannot be read, or a role that does not exist."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise AccessError(f"{what}: not valid base64") from None


def hash_password(password: str, *, method: str = "scrypt", salt: bytes | None = None) -> str:
    if not password:
        raise AccessError("an empty password cannot be used")
    if method not in METHODS:
        raise AccessError(f"method {method!r}: one of {', '.join(METHODS)}")
    salt = salt or os.urandom(16)
    if method == "scrypt":
        digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                                p=SCRYPT_P, maxmem=64 * 1024 * 1024)
        return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"


def check_hash(stored: str, what: str = "password hash") -> None:
    """Raise `AccessError` naming `what` when `stored` is not a hash this module can check."""
    parts = stored.strip().split("$")
    if parts[0] == "scrypt" and len(parts) == 6:
        if not all(p.isdigit() for p in parts[1:4]):
            raise AccessError(f"{what}: scrypt n, r and p must be integers")
        _unb64(parts[4], what), _unb64(parts[5], what)
        return
    if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
        if not parts[1].isdigit():
            raise AccessError(f"{what}: the PBKDF2 iteration count must be an integer")
        _unb64(parts[2], what), _unb64(parts[3], what)
        return
    raise AccessError(f"{what}: not a botfleet password hash (expected 'scrypt$n$r$p$salt$hash' "
                      "or 'pbkdf2_sha256$iterations$salt$hash'; make one with "
                      "'botfleet ui hash-password')")


def verify_password(stored: str, password: str) -> bool:
    check_hash(stored)
    parts = stored.strip().split("$")
    if parts[0] == "scrypt":
        n, r, p = (int(x) for x in parts[1:4])
        salt, want = _unb64(parts[4], "hash"), _unb64(parts[5], "hash")
        got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p,
                             maxmem=64 * 1024 * 1024, dklen=len(want))
    else:
        salt, want = _unb64(parts[2], "hash"), _unb64(parts[3], "hash")
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(parts[1]),
                                  dklen=len(want))
    return hmac.compare_digest(got, want)


def role_hashes(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The roles that have a password in `env` (default: os.environ), each hash checked."""
    env = os.environ if env is None else env
    out = {}
    for role, name in ROLE_ENV.items():
        value = (env.get(name) or "").strip()
        if value:
            check_hash(value, name)
            out[role] = value
    return out


def authenticate(password: str, env: Mapping[str, str] | None = None) -> str | None:
    """The role this password opens (operator first), None when it opens none."""
    for role, stored in role_hashes(env).items():
        if verify_password(stored, password):
            return role
    return None


def can_operate(role: str | None) -> bool:
    return role == OPERATOR
