-- 0019: the sandbox CA (issue 12), the installation's second root: name-constrained to Azure's
-- host names, trusted only inside sandboxes, its private key sealed under the KEK like the
-- Lanyard root's (ca, 0001). Every server presents its certificates for Azure's names, so the
-- agents' relays pass an app's TLS through to a server untouched.
CREATE TABLE sandbox_ca (
	id         TEXT   NOT NULL PRIMARY KEY CHECK (id = 'sandbox'),
	cert_der   BYTEA  NOT NULL,
	sealed_key BYTEA  NOT NULL,
	kek_id     TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);
