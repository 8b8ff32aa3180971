#!/usr/bin/env bash
# Make sure the Postgres and Redis instances skubridge needs for local development
# and CI are up, and that the app's role and databases exist.
#
#   scripts/ensure-services.sh [all|postgres|redis]      (default: all)
#
# Idempotent and quiet when everything is already in place; prints what it does
# otherwise. Works on Debian/Ubuntu whether the services are running, installed but
# stopped, or not installed at all (then they are installed with apt-get).
#
# Environment:
#   SKUBRIDGE_SKIP_SERVICES=1   do nothing (you point DATABASE_URL/REDIS_URL elsewhere)
#   PGHOST/PGPORT               Postgres to check/start  (default 127.0.0.1:5432)
#   REDIS_HOST/REDIS_PORT       Redis to check/start     (default 127.0.0.1:6379)
#   SKUBRIDGE_DB_USER, SKUBRIDGE_DB_PASSWORD, SKUBRIDGE_DB_NAME, SKUBRIDGE_TEST_DB_NAME
#                               app role/databases (default skubridge/skubridge,
#                               skubridge, skubridge_test)
set -euo pipefail

if [[ "${SKUBRIDGE_SKIP_SERVICES:-0}" == 1 ]]; then
  exit 0
fi

PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"
DB_USER="${SKUBRIDGE_DB_USER:-skubridge}"
DB_PASSWORD="${SKUBRIDGE_DB_PASSWORD:-skubridge}"
DB_NAMES=("${SKUBRIDGE_DB_NAME:-skubridge}" "${SKUBRIDGE_TEST_DB_NAME:-skubridge_test}")
PG_WAIT=30
REDIS_WAIT=15
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}"

# ---------------------------------------------------------------------------- helpers

say() { printf 'ensure-services: %s\n' "$*" >&2; }
die() { printf 'ensure-services: ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

for ident in "$DB_USER" "${DB_NAMES[@]}"; do
  [[ "$ident" =~ ^[a-z_][a-z0-9_]*$ ]] || die "invalid Postgres identifier: '$ident'"
done
DB_PASSWORD_SQL="${DB_PASSWORD//\'/\'\'}"   # single quotes doubled for a SQL literal

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run a command as root: directly when root, else through sudo (non-interactive
# when there is no terminal, so CI never hangs on a password prompt).
as_root() {
  if is_root; then
    "$@"
  elif have sudo; then
    if [[ -t 0 ]]; then sudo "$@"; else sudo -n "$@"; fi
  else
    die "need root privileges (no sudo available) to run: $*"
  fi
}

# Run a command as the postgres OS user (peer auth over the local socket).
as_postgres() {
  if [[ "$(id -un)" == postgres ]]; then
    (cd / && "$@")
  elif is_root && have runuser; then
    (cd / && runuser -u postgres -- "$@")
  elif have sudo; then
    if [[ -t 0 ]]; then (cd / && sudo -u postgres "$@"); else (cd / && sudo -n -u postgres "$@"); fi
  else
    return 1
  fi
}

# systemctl is only usable when systemd is PID 1 (never in plain containers).
systemd_running() { [[ -d /run/systemd/system ]] && have systemctl; }

is_local_host() {
  case "$1" in
    127.*|localhost|::1|/*) return 0 ;;
    *) return 1 ;;
  esac
}

# wait_for SECONDS CMD...: poll CMD every 0.5 s until it succeeds or time runs out.
wait_for() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 2; i++)); do
    "$@" && return 0
    sleep 0.5
  done
  return 1
}

# shellcheck disable=SC2016  # $0/$1 expand in the child bash
tcp_open() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

APT_UPDATED=0
apt_install() {
  have apt-get || die "$* not installed and apt-get is not available; install it yourself (or set SKUBRIDGE_SKIP_SERVICES=1 and point DATABASE_URL/REDIS_URL at your own services)"
  is_root || have sudo || die "need to install $* with apt-get, but not root and no sudo available; install it yourself"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/ensure-services-apt.XXXXXX")"
  if [[ "$APT_UPDATED" == 0 ]]; then
    say "running apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 \
      || { cat "$log" >&2; rm -f "$log"; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  say "installing with apt-get: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1 \
    || { cat "$log" >&2; rm -f "$log"; die "apt-get install $* failed"; }
  rm -f "$log"
}

# ---------------------------------------------------------------------------- postgres

pg_ready() {
  if have pg_isready; then
    pg_isready -q -h "$PGHOST" -p "$PGPORT" -t 3
  elif [[ "$PGHOST" == /* ]]; then
    [[ -S "$PGHOST/.s.PGSQL.$PGPORT" ]]
  else
    tcp_open "$PGHOST" "$PGPORT"
  fi
}

pg_installed() {
  have pg_ctlcluster || have pg_lsclusters || compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

pg_latest_version() {
  local v
  v="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null \
        | awk -F/ '{print $5}' | sort -V | tail -n 1)"
  [[ -n "$v" ]] || die "no PostgreSQL server binaries found under /usr/lib/postgresql"
  printf '%s\n' "$v"
}

pg_show_log() {
  local f=$1
  if [[ -r "$f" ]]; then
    say "last lines of $f:"
    tail -n 20 "$f" >&2 || true
  fi
}

# Start a Debian (postgresql-common) cluster serving $PGPORT, creating one if needed.
pg_start_debian_cluster() {
  local line ver name status
  line="$(pg_lsclusters -h 2>/dev/null | awk -v p="$PGPORT" '$3 == p { print $1, $2, $4; exit }')"
  if [[ -z "$line" ]]; then
    ver="$(pg_latest_version)"
    name=main
    if pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" { f = 1 } END { exit !f }'; then
      name=skubridge   # a "main" cluster exists on another port; don't touch it
    fi
    say "creating PostgreSQL $ver cluster '$name' on port $PGPORT"
    as_root pg_createcluster --port "$PGPORT" "$ver" "$name" >/dev/null
    status=down
  else
    read -r ver name status <<<"$line"
  fi

  if [[ "$status" != online ]]; then
    say "starting PostgreSQL cluster $ver/$name (port $PGPORT)"
    if systemd_running && as_root systemctl start "postgresql@$ver-$name" 2>/dev/null; then
      :
    elif as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start; then
      :
    elif have service && as_root service postgresql start; then
      :
    else
      pg_show_log "/var/log/postgresql/postgresql-$ver-$name.log"
      die "could not start PostgreSQL cluster $ver/$name"
    fi
  fi
  PG_LOG="/var/log/postgresql/postgresql-$ver-$name.log"
}

# No postgresql-common tooling, but server binaries exist: run initdb/pg_ctl directly.
pg_start_raw() {
  local ver bindir data log
  if have service && as_root service postgresql start >/dev/null 2>&1 && wait_for 5 pg_ready; then
    return 0
  fi
  ver="$(pg_latest_version)"
  bindir="/usr/lib/postgresql/$ver/bin"
  data="/var/lib/postgresql/$ver/skubridge"
  log="/var/lib/postgresql/$ver/skubridge.log"
  id postgres >/dev/null 2>&1 || die "PostgreSQL binaries found but no 'postgres' OS user exists"
  as_root mkdir -p "$data" /var/run/postgresql
  as_root chown postgres: "$data" /var/run/postgresql "/var/lib/postgresql/$ver"
  as_root chmod 700 "$data"
  if ! as_root test -s "$data/PG_VERSION"; then
    say "initialising PostgreSQL $ver data directory $data"
    as_postgres "$bindir/initdb" -D "$data" -U postgres -E UTF8 \
      --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  fi
  say "starting PostgreSQL $ver from $data (port $PGPORT)"
  as_postgres "$bindir/pg_ctl" -D "$data" -l "$log" -w -t "$PG_WAIT" \
    -o "-p $PGPORT -k /var/run/postgresql" start >/dev/null \
    || { pg_show_log "$log"; die "could not start PostgreSQL from $data"; }
  PG_LOG="$log"
}

PG_LOG=""
pg_ensure_running() {
  pg_ready && return 0
  is_local_host "$PGHOST" \
    || die "PostgreSQL at $PGHOST:$PGPORT is not reachable (not a local host, so not starting one; set SKUBRIDGE_SKIP_SERVICES=1 to skip these checks)"

  if ! pg_installed; then
    say "PostgreSQL is not installed"
    apt_install postgresql postgresql-client
    # The package may already have created and started a cluster.
    wait_for 5 pg_ready && { say "PostgreSQL is up on $PGHOST:$PGPORT"; return 0; }
  fi

  if have pg_lsclusters && have pg_ctlcluster && have pg_createcluster; then
    pg_start_debian_cluster
  else
    pg_start_raw
  fi

  if ! wait_for "$PG_WAIT" pg_ready; then
    [[ -n "$PG_LOG" ]] && pg_show_log "$PG_LOG"
    die "PostgreSQL did not become ready on $PGHOST:$PGPORT within ${PG_WAIT}s"
  fi
  say "PostgreSQL is up on $PGHOST:$PGPORT"
}

# psql as the app role, with its password, over TCP (what the app itself does).
app_psql() {
  local host=$PGHOST
  [[ "$host" == /* ]] && host=127.0.0.1
  PGPASSWORD="$DB_PASSWORD" psql -X -w -q -t -A -v ON_ERROR_STOP=1 \
    -h "$host" -p "$PGPORT" -U "$DB_USER" "$@"
}

# Does everything already look right? (Needs no superuser access.)
pg_app_setup_ok() {
  local names="'${DB_NAMES[0]}','${DB_NAMES[1]}'" out
  out="$(app_psql -d "${DB_NAMES[0]}" -c "
    select (select rolcanlogin and rolcreatedb from pg_roles where rolname = current_user)
       and (select count(*) from pg_database d join pg_roles r on r.oid = d.datdba
             where d.datname in ($names) and r.rolname = current_user) = ${#DB_NAMES[@]}" 2>/dev/null)" || return 1
  [[ "$out" == t ]]
}

SU_MODE=""
su_psql() {
  case "$SU_MODE" in
    tcp) psql -X -w -q -t -A -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres "$@" ;;
    socket) as_postgres env -u PGHOST -u PGHOSTADDR -u PGUSER -u PGPASSWORD \
              psql -X -w -q -t -A -v ON_ERROR_STOP=1 -p "$PGPORT" -d postgres "$@" ;;
    *) return 1 ;;
  esac
}

pg_find_superuser() {
  SU_MODE=tcp
  su_psql -c 'select 1' >/dev/null 2>&1 && return 0
  if is_local_host "$PGHOST" && id postgres >/dev/null 2>&1; then
    SU_MODE=socket
    su_psql -c 'select 1' >/dev/null 2>&1 && return 0
  fi
  SU_MODE=""
  return 1
}

pg_ensure_app_setup() {
  if ! have psql; then
    say "psql is not installed"
    apt_install postgresql-client
  fi
  pg_app_setup_ok && return 0

  pg_find_superuser || die "cannot connect to PostgreSQL on $PGHOST:$PGPORT as superuser 'postgres' (tried TCP and the local socket as the postgres OS user). Create it yourself:
  CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '...';
  CREATE DATABASE ${DB_NAMES[0]} OWNER $DB_USER;  CREATE DATABASE ${DB_NAMES[1]} OWNER $DB_USER;"

  local role_state
  role_state="$(su_psql -c "select rolcanlogin and rolcreatedb from pg_roles where rolname = '$DB_USER'")"
  if [[ -z "$role_state" ]]; then
    say "creating PostgreSQL role '$DB_USER'"
    su_psql -c "CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD_SQL'"
  elif [[ "$role_state" != t ]] || ! app_psql -d postgres -c 'select 1' >/dev/null 2>&1; then
    say "updating PostgreSQL role '$DB_USER' (LOGIN CREATEDB, password)"
    su_psql -c "ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD_SQL'"
  fi

  local db owner
  for db in "${DB_NAMES[@]}"; do
    owner="$(su_psql -c "select pg_get_userbyid(datdba) from pg_database where datname = '$db'")"
    if [[ -z "$owner" ]]; then
      say "creating database '$db' owned by '$DB_USER'"
      su_psql -c "CREATE DATABASE $db OWNER $DB_USER"
    elif [[ "$owner" != "$DB_USER" ]]; then
      say "changing owner of database '$db' from '$owner' to '$DB_USER'"
      su_psql -c "ALTER DATABASE $db OWNER TO $DB_USER"
    fi
  done

  pg_app_setup_ok || die "role/databases were set up, but connecting as '$DB_USER' with its password to $PGHOST:$PGPORT still fails; check pg_hba.conf"
}

ensure_postgres() {
  pg_ensure_running
  pg_ensure_app_setup
}

# ---------------------------------------------------------------------------- redis

# shellcheck disable=SC2016  # $0/$1 expand in the child bash
redis_ping() {
  if have redis-cli; then
    [[ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
  else
    timeout 3 bash -c '
      exec 3<>"/dev/tcp/$0/$1" || exit 1
      printf "PING\r\n" >&3
      IFS= read -r -t 2 line <&3 || exit 1
      [[ "$line" == "+PONG"* ]]' "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null
  fi
}

redis_server_bin() {
  if have redis-server; then
    command -v redis-server
  elif [[ -x /usr/bin/redis-server ]]; then
    echo /usr/bin/redis-server
  else
    return 1
  fi
}

# Pick the first of the candidate directories we can create and write to.
writable_dir() {
  local d
  for d in "$@"; do
    if [[ -d "$d" && -w "$d" ]]; then echo "$d"; return 0; fi
    if [[ ! -e "$d" ]] && mkdir -p "$d" 2>/dev/null && [[ -w "$d" ]]; then echo "$d"; return 0; fi
  done
  return 1
}

REDIS_LOG=""
redis_start_daemon() {
  local bin dir logdir log
  bin="$(redis_server_bin)"
  # Runs as the invoking user: needs no root. Falls back to /tmp when the standard
  # Debian paths are not writable (e.g. not root on a dev laptop).
  dir="$(writable_dir /var/lib/redis "${TMPDIR:-/tmp}/skubridge-redis-$REDIS_PORT")" \
    || die "no writable directory for redis-server"
  log="${TMPDIR:-/tmp}/skubridge-redis-$REDIS_PORT.log"
  if logdir="$(writable_dir /var/log/redis)"; then
    if [[ "$REDIS_PORT" == 6379 ]]; then log="$logdir/ci.log"; else log="$logdir/ci-$REDIS_PORT.log"; fi
    if [[ -e "$log" && ! -w "$log" ]]; then log="${TMPDIR:-/tmp}/skubridge-redis-$REDIS_PORT.log"; fi
  fi
  say "starting redis-server on 127.0.0.1:$REDIS_PORT (no persistence, log $log)"
  "$bin" --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir "$dir" --logfile "$log" \
    --pidfile "$dir/redis-$REDIS_PORT.pid" \
    || die "redis-server failed to start (see $log)"
  REDIS_LOG="$log"
}

redis_start() {
  # On a systemd host the packaged unit serves the default port; use it if it works.
  if [[ "$REDIS_PORT" == 6379 ]] && systemd_running \
      && as_root systemctl start redis-server >/dev/null 2>&1 && wait_for 5 redis_ping; then
    say "started redis-server via systemctl"
    return 0
  fi
  redis_start_daemon
}

ensure_redis() {
  redis_ping && return 0
  is_local_host "$REDIS_HOST" \
    || die "Redis at $REDIS_HOST:$REDIS_PORT is not answering (not a local host, so not starting one; set SKUBRIDGE_SKIP_SERVICES=1 to skip these checks)"
  [[ "$REDIS_HOST" == /* ]] && die "REDIS_HOST must be a host name or IP address, not a path"

  if tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
    # Something listens there: maybe Redis still loading. Don't start a second one.
    wait_for "$REDIS_WAIT" redis_ping && return 0
    die "something listens on $REDIS_HOST:$REDIS_PORT but does not answer PING with PONG (password set? not Redis?)"
  fi

  if ! redis_server_bin >/dev/null; then
    say "redis-server is not installed"
    apt_install redis-server
    # The package may have started its own service already.
    wait_for 3 redis_ping && { say "Redis is up on $REDIS_HOST:$REDIS_PORT"; return 0; }
  fi

  redis_start
  if ! wait_for "$REDIS_WAIT" redis_ping; then
    if [[ -n "$REDIS_LOG" && -r "$REDIS_LOG" ]]; then tail -n 20 "$REDIS_LOG" >&2 || true; fi
    die "Redis did not answer on $REDIS_HOST:$REDIS_PORT within ${REDIS_WAIT}s"
  fi
  say "Redis is up on $REDIS_HOST:$REDIS_PORT"
}

# ---------------------------------------------------------------------------- main

case "${1:-all}" in
  all) ensure_postgres; ensure_redis ;;
  postgres) ensure_postgres ;;
  redis) ensure_redis ;;
  *) die "usage: $0 [all|postgres|redis]" ;;
esac
