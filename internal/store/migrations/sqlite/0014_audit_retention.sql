-- 0014: audit retention (issue 15, item 8). Old events leave the store only after they were
-- exported, as a segment file of JSON lines that ends with a signed checkpoint; the chain in the
-- store then starts after audit_base: the seq and hash of the last event removed, which the
-- first remaining event links to. audit_segments lists what was exported, where, and its digest.

CREATE TABLE audit_base (
	id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash TEXT    NOT NULL
) STRICT;

INSERT INTO audit_base (id, seq, hash) VALUES (1, 0, '');

CREATE TABLE audit_segments (
	last_seq    INTEGER NOT NULL PRIMARY KEY,
	first_seq   INTEGER NOT NULL,
	last_hash   TEXT    NOT NULL,
	file        TEXT    NOT NULL, -- the segment's file name, in the exporting server's audit.export_dir
	sha256      TEXT    NOT NULL, -- hex digest of the file
	server      TEXT    NOT NULL, -- the host name of the server that exported it
	exported_at INTEGER NOT NULL
) STRICT;
