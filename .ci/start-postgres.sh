#!/usr/bin/env bash
# start-postgres.sh starts a throwaway PostgreSQL for Lanyard's store tests and prints its DSN.
#
#   export LANYARD_TEST_POSTGRES_DSN="$(.ci/start-postgres.sh)"
#   go test -race ./internal/store/...
#
# Made for a fresh Debian machine (CI), run as root: it installs the server packages if there are
# none, makes a cluster in $LANYARD_PG_DIR (default /tmp/lanyard-postgres) owned by the postgres
# user, listening on 127.0.0.1:$LANYARD_PG_PORT (default 55432) only, with trust authentication
# on loopback and the unix socket only, and creates the database lanyard_test. Durability is
# switched off (fsync, synchronous_commit, full_page_writes): it is for tests, never for data.
#
# Run again, it does nothing more than needed: a running server is reused, a stopped one is
# started. Stdout carries exactly one line, the DSN; progress goes to stderr.
#
# Stop it with: runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)/pg_ctl" -D /tmp/lanyard-postgres/data stop
set -euo pipefail

exec 3>&1 1>&2 # everything to stderr; the DSN alone goes to fd 3, the original stdout
cd /           # the postgres user may not be allowed into the caller's directory

port="${LANYARD_PG_PORT:-55432}"
dir="${LANYARD_PG_DIR:-/tmp/lanyard-postgres}"
data="$dir/data"
db=lanyard_test
dsn="postgres://postgres@127.0.0.1:${port}/${db}?sslmode=disable"

log() { printf 'start-postgres: %s\n' "$*"; }

# bindir finds the server binaries: Debian keeps them in /usr/lib/postgresql/N/bin, outside PATH
# (a pg_ctl on PATH may be a symlink to them, or Debian's wrapper); take the newest version.
bindir() {
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
	if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
		echo "$d"
		return
	fi
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
	fi
}

bin="$(bindir)"
if [[ -z "$bin" ]]; then
	log "no PostgreSQL server binaries; installing the postgresql package"
	# Only our own cluster: do not let the package create and start its default one.
	mkdir -p /etc/postgresql-common/createcluster.d
	echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/lanyard-ci.conf
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends postgresql
	bin="$(bindir)"
	[[ -n "$bin" ]] || { log "installed postgresql but found no server binaries"; exit 1; }
fi
log "server binaries in $bin ($("$bin/postgres" --version))"

# as_pg runs a command as the cluster's owner: the postgres user when we are root (PostgreSQL
# refuses to run as root), ourselves otherwise.
owner="$(id -un)"
as_pg() {
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
if [[ "$(id -u)" == 0 ]]; then
	owner=postgres
	id postgres >/dev/null 2>&1 || { log "no postgres user; is the postgresql package installed?"; exit 1; }
fi

ready() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; }

if ready; then
	log "a server is already running on 127.0.0.1:$port"
else
	if [[ ! -f "$data/PG_VERSION" ]]; then
		log "creating a cluster in $data"
		rm -rf "$data"
		mkdir -p "$dir"
		chown "$owner" "$dir"
		chmod 0700 "$dir"
		as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --locale=C --auth=trust >/dev/null
		cat >"$data/pg_hba.conf" <<-EOF
			# Tests only: trust on the unix socket and on loopback, nothing else.
			local all all trust
			host  all all 127.0.0.1/32 trust
		EOF
		cat >>"$data/postgresql.conf" <<-EOF

			# Added by .ci/start-postgres.sh: loopback only, and fast rather than durable.
			listen_addresses = '127.0.0.1'
			port = $port
			unix_socket_directories = '$dir'
			max_connections = 300
			fsync = off
			synchronous_commit = off
			full_page_writes = off
		EOF
		chown "$owner" "$data/pg_hba.conf"
	fi
	log "starting the server (log: $dir/server.log)"
	# The server must not inherit fd 3: a caller reading our stdout through $(...) would wait
	# for it to close, that is, forever.
	if ! as_pg "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start </dev/null >/dev/null 3>&-; then
		log "the server did not start; its log ends with:"
		tail -n 20 "$dir/server.log" || true
		exit 1
	fi
fi

psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
if [[ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]]; then
	log "creating database $db"
	"${psql[@]}" -c "CREATE DATABASE $db"
fi

log "ready: $dsn"
echo "$dsn" >&3
