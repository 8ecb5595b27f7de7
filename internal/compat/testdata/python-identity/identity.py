# The Python half of Lanyard's agent compatibility test (internal/compat/identity_clients_test.go), for
# Debian's python3-azure: the unmodified azure-identity credentials get tokens from the environment
# the test gives this process (the agent's App Service-style endpoint through
# IDENTITY_ENDPOINT/IDENTITY_HEADER, or its IMDS-style endpoint through
# AZURE_POD_IDENTITY_AUTHORITY_HOST). LANYARD_CASES is a JSON list of
# {name, credential: "managed" | "default", clientId? | resourceId? | objectId?, scope}; each case asks twice (the second
# answer should come from the SDK's cache). It prints one JSON object on stdout, as the Node script
# does: {name: {token, again, expiresOnTimestamp (ms)} | {error}}, and exits non-zero if any case
# failed.
import json
import os
import sys
import traceback

from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

out = {}
failed = False
for c in json.loads(os.environ.get("LANYARD_CASES", "[]")):
    try:
        if c["credential"] == "managed":
            # azure-identity passes identity_config as query parameters, so a user names them as
            # the hosting environment does: App Service (IDENTITY_ENDPOINT) or IMDS.
            app_service = "IDENTITY_ENDPOINT" in os.environ
            if c.get("clientId"):
                cred = ManagedIdentityCredential(client_id=c["clientId"])
            elif c.get("resourceId"):
                key = "mi_res_id" if app_service else "msi_res_id"
                cred = ManagedIdentityCredential(identity_config={key: c["resourceId"]})
            elif c.get("objectId"):
                key = "principal_id" if app_service else "object_id"
                cred = ManagedIdentityCredential(identity_config={key: c["objectId"]})
            else:
                cred = ManagedIdentityCredential()
        elif c["credential"] == "default":
            cred = DefaultAzureCredential()
        else:
            raise ValueError("unknown credential " + c["credential"])
        tok = cred.get_token(c["scope"])
        again = cred.get_token(c["scope"])
        out[c["name"]] = {"token": tok.token, "again": again.token, "expiresOnTimestamp": tok.expires_on * 1000}
    except Exception as e:  # every failure is the case's answer
        failed = True
        out[c["name"]] = {"error": "%s\n%s" % (e, traceback.format_exc())}
sys.stdout.write(json.dumps(out) + "\n")
sys.exit(1 if failed else 0)
