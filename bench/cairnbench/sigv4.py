"""AWS Signature Version 4 for one Cloud Map call, as the SDKs send it:
POST to ``/`` with an empty query, the headers ``content-type``, ``host``,
``x-amz-date`` and ``x-amz-target`` signed. Standard library only.

Written from the algorithm (AWS's "Signature Version 4 signing process"),
not from cairn's verifier, so the benchmark checks cairn against an
independent signer: ``bench/api_load.py`` sends one request signed with a
wrong secret (which must get 400 InvalidSignatureException) before it
measures.
"""

import hashlib
import hmac
import time

SERVICE = "servicediscovery"
ALGORITHM = "AWS4-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host;x-amz-date;x-amz-target"


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class Signer:
    """Signs requests for one key and region. The derived signing key
    depends only on the date, so it is computed once per UTC day, as the
    SDKs do; everything else is computed for every request."""

    def __init__(self, access_key_id, secret, region="us-east-1"):
        self.access_key_id, self.secret, self.region = access_key_id, secret, region
        self._key_date, self._key = None, None

    def signing_key(self, date):
        if date != self._key_date:
            k = _hmac(("AWS4" + self.secret).encode(), date)
            k = _hmac(k, self.region)
            k = _hmac(k, SERVICE)
            self._key, self._key_date = _hmac(k, "aws4_request"), date
        return self._key

    def headers(self, host, target, content_type, body, now=None):
        """The ``X-Amz-Date`` and ``Authorization`` headers for a POST to
        ``/`` of ``body`` (bytes) with these ``Host``, ``X-Amz-Target`` and
        ``Content-Type``."""
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        date = amz_date[:8]
        canonical = "\n".join([
            "POST", "/", "",
            f"content-type:{content_type}", f"host:{host}", f"x-amz-date:{amz_date}",
            f"x-amz-target:{target}", "",
            SIGNED_HEADERS, hashlib.sha256(body).hexdigest()])
        scope = f"{date}/{self.region}/{SERVICE}/aws4_request"
        to_sign = "\n".join([ALGORITHM, amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        signature = hmac.new(self.signing_key(date), to_sign.encode(),
                             hashlib.sha256).hexdigest()
        return {
            "X-Amz-Date": amz_date,
            "Authorization": f"{ALGORITHM} Credential={self.access_key_id}/{scope}, "
                             f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        }
