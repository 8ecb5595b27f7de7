# An API's side of Lanyard's token compatibility test (internal/compat/api_verify_test.go): PyJWT
# (Debian's python3-jwt) validates a bearer token as an API would: the issuer's OpenID
# configuration, its JWKS through PyJWKClient (the key chosen by the token's kid), the signature,
# audience, issuer and expiry. SSL_CERT_FILE makes Lanyard's CA trusted. It prints the verified
# claims as JSON, or {"error": ...} and exits 1.
import json
import os
import sys
import urllib.request

import jwt

issuer, audience, token = os.environ["ISSUER"], os.environ["AUDIENCE"], os.environ["TOKEN"]
try:
    with urllib.request.urlopen(issuer.rstrip("/") + "/.well-known/openid-configuration") as r:
        config = json.load(r)
    key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=config.get("id_token_signing_alg_values_supported", ["RS256"]),
                        audience=audience, issuer=config["issuer"])
    print(json.dumps(claims))
except Exception as e:  # the API's refusal
    print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(1)
