#!/usr/bin/env bash
# Installs, starts and stops the peer queues' servers for the shoal benchmark:
# Redis (for asynq) and PostgreSQL (for River), both from Debian's packages,
# on loopback only, with their data in a throw-away directory.
#
#   services.sh install   apt-get install redis-server postgresql if missing
#   services.sh start     install if needed, then start both (idempotent)
#   services.sh stop      stop both and delete their data (idempotent)
#   services.sh status    say what runs
#   services.sh env       print the addresses as shell assignments
#
# Addresses (the bench block 127.0.70.x, non-default ports, so nothing
# collides with a system-wide Redis or Postgres):
#   BENCH_REDIS_ADDR  127.0.70.1:16379
#   BENCH_PG_URL      postgres://bench@127.0.70.2:15432/bench
# Override the state directory with BENCH_STATE_DIR.
set -euo pipefail

STATE_DIR="${BENCH_STATE_DIR:-${TMPDIR:-/tmp}/shoal-bench-services}"
REDIS_HOST=127.0.70.1
REDIS_PORT=16379
PG_HOST=127.0.70.2
PG_PORT=15432
PG_USER=bench
PG_DB=bench

log() { printf 'services: %s\n' "$*" >&2; }

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x "$d/pg_ctl" ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

# as_pg runs a command as the user that owns the Postgres data: postgres
# refuses to run as root, so root drops to the "postgres" system user that
# Debian's package creates; anyone else runs it as themselves.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cmd_install() {
	local missing=()
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
	pg_bindir >/dev/null 2>&1 || missing+=(postgresql)
	if [[ ${#missing[@]} -eq 0 ]]; then
		return 0
	fi
	log "installing ${missing[*]} from Debian's packages"
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			log "not root and no sudo: install ${missing[*]} by hand, then rerun"
			exit 1
		fi
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
	# Debian's packages start their own system-wide instances where an init
	# system runs; those use the default ports and do not collide with ours.
}

redis_up() {
	redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

pg_up() {
	local bin
	bin=$(pg_bindir) || return 1
	"$bin/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null
}

start_redis() {
	if redis_up; then
		log "redis already running on $REDIS_HOST:$REDIS_PORT"
		return 0
	fi
	mkdir -p "$STATE_DIR/redis"
	# No persistence: nothing is fsynced or snapshotted during a run. That is
	# the fastest Redis setting and favours asynq; say so with the results.
	redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" \
		--dir "$STATE_DIR/redis" --daemonize yes \
		--pidfile "$STATE_DIR/redis/redis.pid" --logfile "$STATE_DIR/redis/redis.log" \
		--save '' --appendonly no --protected-mode no
	local i
	for i in $(seq 1 100); do
		redis_up && { log "redis up on $REDIS_HOST:$REDIS_PORT"; return 0; }
		sleep 0.1
	done
	log "redis did not come up; see $STATE_DIR/redis/redis.log"
	exit 1
}

start_pg() {
	if pg_up; then
		log "postgres already running on $PG_HOST:$PG_PORT"
		return 0
	fi
	local bin data sock
	bin=$(pg_bindir)
	data="$STATE_DIR/pg/data"
	sock="$STATE_DIR/pg/sock"
	mkdir -p "$STATE_DIR/pg" "$sock"
	chmod 755 "$STATE_DIR" "$STATE_DIR/pg"
	if [[ $(id -u) -eq 0 ]]; then
		chown -R postgres:postgres "$STATE_DIR/pg"
	fi
	if [[ ! -f "$data/PG_VERSION" ]]; then
		as_pg "$bin/initdb" -D "$data" -U "$PG_USER" -A trust -E UTF8 --no-sync >/dev/null
	fi
	# Postgres' defaults stay (fsync and synchronous_commit on): River's
	# numbers are for a durable queue. Only addresses and connections change.
	as_pg "$bin/pg_ctl" -D "$data" -l "$STATE_DIR/pg/postgres.log" -w -t 60 start \
		-o "-c listen_addresses=$PG_HOST -c port=$PG_PORT -c unix_socket_directories=$sock -c max_connections=200" >/dev/null
	if ! as_pg "$bin/psql" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1; then
		as_pg "$bin/createdb" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
	fi
	log "postgres up on $PG_HOST:$PG_PORT (data in $data)"
}

cmd_start() {
	cmd_install
	mkdir -p "$STATE_DIR"
	start_redis
	start_pg
}

cmd_stop() {
	if redis_up; then
		redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
		log "redis stopped"
	fi
	local bin
	if bin=$(pg_bindir) && [[ -f "$STATE_DIR/pg/data/postmaster.pid" ]]; then
		as_pg "$bin/pg_ctl" -D "$STATE_DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
		log "postgres stopped"
	fi
	rm -rf "$STATE_DIR"
}

cmd_status() {
	if redis_up; then echo "redis: up on $REDIS_HOST:$REDIS_PORT"; else echo "redis: down"; fi
	if pg_up; then echo "postgres: up on $PG_HOST:$PG_PORT"; else echo "postgres: down"; fi
}

cmd_env() {
	echo "BENCH_REDIS_ADDR=$REDIS_HOST:$REDIS_PORT"
	echo "BENCH_PG_URL=postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB?sslmode=disable"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	echo "usage: $0 install|start|stop|status|env" >&2
	exit 2
	;;
esac
