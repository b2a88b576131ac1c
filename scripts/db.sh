#!/usr/bin/env bash
# scripts/db.sh: settle on a PostgreSQL server for frontline and export DATABASE_URL.
#
#   source scripts/db.sh     ends with DATABASE_URL exported (used by scripts/dev, scripts/test)
#   scripts/db.sh            prints the DATABASE_URL it settled on (starting the local cluster if needed)
#   scripts/db.sh status     says whether the project-local cluster is running
#   scripts/db.sh stop       stops the project-local cluster
#   scripts/db.sh destroy    stops it and deletes its data
#
# How it decides:
#   1. DATABASE_URL set and its server reachable  -> use it as is.
#      DATABASE_URL set but unreachable           -> warn, fall through to 2.
#   2. Start (or reuse) a project-local cluster on 127.0.0.1:PORT, superuser "postgres", trust
#      auth, and use postgres://postgres@127.0.0.1:PORT/frontline.
#      (The frontline binary's `migrate` creates the database itself.)
#
# The port: FRONTLINE_PG_PORT when set; else the one this checkout remembers in
# <repo>/.local/pg-port; else, the first time, 54329 or the next free port after it (so a second
# checkout on the same machine gets a port of its own), remembered there. A remembered port
# that another program has taken since is replaced by a free one (with a warning).
#
# Where the local cluster lives:
#   ordinary user: <repo>/.local/postgres/            (run as that user)
#   root:          /var/tmp/frontline-pg/<sha256(repo path)[:12]>/, owned by the `postgres`
#                  system user, with <repo>/.local/postgres a symlink to it. initdb and postgres
#                  refuse to run as root, and the checkout may sit under /root (mode 700), which
#                  the postgres user cannot enter.
#   Inside it: data/ (PGDATA), run/ (Unix socket), server.log.
#
# Environment: DATABASE_URL, FRONTLINE_PG_PORT (default: remembered in .local/pg-port).

# ---------------------------------------------------------------------------------------------
# Sourced: run this file as a child process (so the caller's shell options are left alone and
# the logic below always runs under `set -euo pipefail`), and export the URL it prints.
# Arguments the caller's "$@" would pass implicitly to a sourced file are ignored.
# ---------------------------------------------------------------------------------------------
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    if _frontline_db_url="$(DATABASE_URL="${DATABASE_URL-}" FRONTLINE_PG_PORT="${FRONTLINE_PG_PORT-}" \
        "${BASH:-bash}" "${BASH_SOURCE[0]}")" && [[ -n "$_frontline_db_url" ]]; then
        export DATABASE_URL="$_frontline_db_url"
        unset _frontline_db_url
        return 0
    fi
    unset _frontline_db_url
    printf '[db] error: no PostgreSQL server available (see the messages above)\n' >&2
    return 1
fi

# ---------------------------------------------------------------------------------------------
# Executed.
# ---------------------------------------------------------------------------------------------
set -euo pipefail

# stdout carries only the final DATABASE_URL; everything else goes to stderr.
exec 3>&1 1>&2

log() { printf '[db] %s\n' "$*" >&2; }
warn() { printf '[db] WARNING: %s\n' "$*" >&2; }
die() {
    printf '[db] error: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '[db]   %s\n' "$line" >&2; done
    exit 1
}

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOCAL_DIR="$ROOT/.local"
LINK="$LOCAL_DIR/postgres"

PORT_FILE="$LOCAL_DIR/pg-port"
# The first port tried for a new checkout, and how many after it.
FIRST_PORT=54329
PORT_CHOICES=100

valid_port() { [[ "$1" =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }

# PORT stays empty until a port is known: FRONTLINE_PG_PORT, or the one remembered. A new
# checkout chooses one only when it starts its cluster (choose_port), under the lock.
PORT_FROM_ENV=0
PORT=""
if [[ -n "${FRONTLINE_PG_PORT:-}" ]]; then
    valid_port "$FRONTLINE_PG_PORT" || die "FRONTLINE_PG_PORT='$FRONTLINE_PG_PORT' is not a valid TCP port"
    PORT="$((10#$FRONTLINE_PG_PORT))"
    PORT_FROM_ENV=1
elif [[ -f "$PORT_FILE" ]]; then
    PORT="$(tr -d '[:space:]' <"$PORT_FILE")"
    if ! valid_port "$PORT"; then
        warn "$PORT_FILE holds '$PORT', not a port; choosing one again"
        PORT=""
    fi
fi
set_port() {
    PORT="$1"
    LOCAL_URL="postgres://postgres@127.0.0.1:$PORT/frontline"
}
if [[ -n "$PORT" ]]; then set_port "$PORT"; else LOCAL_URL=""; fi

if [[ "$(id -u)" -eq 0 ]]; then
    IS_ROOT=1
    PG_USER=postgres
    PROJECT_HASH="$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
    CLUSTER_PARENT=/var/tmp/frontline-pg
    CLUSTER="$CLUSTER_PARENT/$PROJECT_HASH"
else
    IS_ROOT=0
    PG_USER="$(id -un)"
    CLUSTER="$LINK"
fi
DATA="$CLUSTER/data"
SOCKDIR="$CLUSTER/run"
LOGFILE="$CLUSTER/server.log"

# Hide a password when echoing a URL.
mask_url() { printf '%s' "$1" | sed -E 's#^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@?]*:)[^@/?]*@#\1****@#'; }

# Run a command as the cluster owner (the postgres system user when we are root).
as_pg() {
    if ((IS_ROOT)); then
        command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run PostgreSQL as the postgres user"
        # cd / first: the caller's working directory may be unreadable to postgres (e.g. /root).
        # Close fd 3 (our stdout) and 9 (the lock) so a started server does not inherit them.
        (cd / && runuser -u "$PG_USER" -- "$@" 3>&- 9>&-)
    else
        "$@" 3>&- 9>&-
    fi
}

# Client tool (pg_isready, psql...): PATH first, then the newest /usr/lib/postgresql/*/bin.
find_client_tool() {
    local name="$1" d
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        return 0
    fi
    while IFS= read -r d; do
        if [[ -x "$d/$name" ]]; then
            printf '%s\n' "$d/$name"
            return 0
        fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
    return 1
}

# Is something accepting TCP connections on host:port?
tcp_open() {
    local host="$1" port="$2"
    # shellcheck disable=SC2016 # $1/$2 expand in the child bash
    if command -v timeout >/dev/null 2>&1; then
        timeout 3 "${BASH:-bash}" -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
    else
        "${BASH:-bash}" -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
    fi
}

# Best-effort host/port out of a libpq URL (or key=value string), for the /dev/tcp fallback.
# Prints "host port"; host may be a socket directory (starting with /) or empty.
url_host_port() {
    local url="$1" rest authority host="" port="" query="" kv parts=()
    if [[ "$url" =~ ^postgres(ql)?:// ]]; then
        rest="${url#*://}"
        if [[ "$rest" == *\?* ]]; then query="${rest#*\?}"; fi
        authority="${rest%%[/?]*}"
        authority="${authority##*@}" # drop user:password@
        authority="${authority%%,*}" # first of several hosts
        if [[ "$authority" == \[* ]]; then
            host="${authority#\[}"
            host="${host%%\]*}"
            [[ "$authority" == *\]:* ]] && port="${authority##*\]:}"
        elif [[ "$authority" == *:* ]]; then
            host="${authority%:*}"
            port="${authority##*:}"
        else
            host="$authority"
        fi
        host="${host//%2F//}"
        host="${host//%2f//}"
        [[ -n "$query" ]] && IFS='&' read -ra parts <<<"$query"
        for kv in ${parts[@]+"${parts[@]}"}; do
            case "$kv" in
            host=*) host="${kv#host=}"; host="${host//%2F//}"; host="${host//%2f//}" ;;
            port=*) port="${kv#port=}" ;;
            esac
        done
    else
        read -ra parts <<<"$url"
        for kv in ${parts[@]+"${parts[@]}"}; do
            case "$kv" in
            host=*) host="${kv#host=}" ;;
            port=*) port="${kv#port=}" ;;
            esac
        done
    fi
    [[ -n "$host" ]] || host="${PGHOST:-}"
    [[ "$port" =~ ^[0-9]+$ ]] || port="${PGPORT:-5432}"
    printf '%s %s\n' "$host" "$port"
}

# Is the server DATABASE_URL names accepting connections?
url_reachable() {
    local url="$1" isready hp host port d
    if isready="$(find_client_tool pg_isready)"; then
        "$isready" -q -t 5 -d "$url" </dev/null >/dev/null 2>&1
        return
    fi
    hp="$(url_host_port "$url")"
    host="${hp% *}"
    port="${hp##* }"
    if [[ -z "$host" ]]; then
        for d in /var/run/postgresql /run/postgresql /tmp; do
            [[ -S "$d/.s.PGSQL.$port" ]] && return 0
        done
        return 1
    elif [[ "$host" == /* ]]; then
        [[ -S "$host/.s.PGSQL.$port" ]]
    else
        tcp_open "$host" "$port"
    fi
}

# Does 127.0.0.1:port answer as a PostgreSQL server ready for connections?
local_ready() {
    local port="$1" isready
    if isready="$(find_client_tool pg_isready)"; then
        "$isready" -q -t 2 -h 127.0.0.1 -p "$port" -U postgres </dev/null >/dev/null 2>&1
    else
        tcp_open 127.0.0.1 "$port"
    fi
}

wait_ready() {
    local port="$1" seconds="$2" i
    for ((i = 0; i < seconds * 2; i++)); do
        local_ready "$port" && return 0
        sleep 0.5
    done
    return 1
}

has_server_bins() { [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/postgres" ]]; }

# Major version of the server binaries in a bin dir ("15" for "postgres (PostgreSQL) 15.10 ...").
bin_major() {
    local v
    v="$("$1/postgres" --version 2>/dev/null | awk '{print $3}')" || return 1
    [[ -n "$v" ]] || return 1
    printf '%s\n' "${v%%.*}"
}

# Server bin dir: newest /usr/lib/postgresql/*/bin with initdb, pg_ctl and postgres, else the
# directory of `initdb` on PATH. With an argument, only a bin dir of that major version will do
# (an existing cluster must be run by the version that created it).
find_server_bin() {
    local want="${1:-}" d candidates=()
    while IFS= read -r d; do
        has_server_bins "$d" && candidates+=("$d")
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
    if command -v initdb >/dev/null 2>&1; then
        d="$(dirname -- "$(readlink -f -- "$(command -v initdb)")")"
        has_server_bins "$d" && candidates+=("$d")
    fi
    for d in ${candidates[@]+"${candidates[@]}"}; do
        if [[ -z "$want" || "$(bin_major "$d" || true)" == "$want" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    done
    return 1
}

install_postgresql() {
    local aptlog="$LOCAL_DIR/apt-postgresql.log"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available" \
        "Install the PostgreSQL server (initdb, pg_ctl, postgres), or set DATABASE_URL to a reachable server."
    mkdir -p "$LOCAL_DIR"
    log "PostgreSQL server not found; installing Debian's postgresql package (log: $aptlog)"
    if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; } \
        </dev/null >"$aptlog" 2>&1; then
        tail -n 30 "$aptlog" >&2 || true
        die "apt-get install postgresql failed (full log: $aptlog)"
    fi
}

ensure_pg_system_user() {
    if ! id -u postgres >/dev/null 2>&1; then
        log "creating the 'postgres' system user"
        useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
    fi
}

# The project-local cluster folder, owned by the cluster user, mode 700.
prepare_cluster_dir() {
    mkdir -p "$LOCAL_DIR"
    if ((IS_ROOT)); then
        ensure_pg_system_user
        if [[ -d "$LINK" && ! -L "$LINK" ]]; then
            if [[ -z "$(ls -A "$LINK")" ]]; then
                rmdir "$LINK"
            else
                die "$LINK is a directory (a cluster made by a non-root run, owner: $(stat -c %U "$LINK"))." \
                    "As root the cluster lives in $CLUSTER instead; move $LINK away and run again," \
                    "or run as that user."
            fi
        fi
        if [[ ! -d "$CLUSTER_PARENT" ]]; then
            mkdir -p "$CLUSTER_PARENT"
            chmod 755 "$CLUSTER_PARENT"
        fi
        mkdir -p "$CLUSTER"
        [[ "$(stat -c %U "$CLUSTER")" == postgres ]] || chown -R postgres: "$CLUSTER"
        chmod 700 "$CLUSTER"
        printf '%s\n' "$ROOT" >"$CLUSTER/project-root"
        [[ -d "$SOCKDIR" ]] || as_pg mkdir -m 700 "$SOCKDIR"
        if [[ "$(readlink "$LINK" 2>/dev/null || true)" != "$CLUSTER" ]]; then
            ln -sfn "$CLUSTER" "$LINK"
        fi
    else
        if [[ -L "$LINK" ]]; then
            die "$LINK is a symlink to $(readlink "$LINK") (a cluster made by a run as root)." \
                "Run as root again, or remove the symlink to get a cluster of your own."
        fi
        mkdir -p "$CLUSTER"
        chmod 700 "$CLUSTER"
        printf '%s\n' "$ROOT" >"$CLUSTER/project-root"
        [[ -d "$SOCKDIR" ]] || mkdir -m 700 "$SOCKDIR"
    fi
}

# Who is on 127.0.0.1:port? Names another frontline cluster if it is one.
describe_port_user() {
    local port="$1" pidfile other
    for pidfile in /var/tmp/frontline-pg/*/data/postmaster.pid "$ROOT"/../*/.local/postgres/data/postmaster.pid; do
        [[ -r "$pidfile" ]] || continue
        [[ "$(sed -n 4p "$pidfile" 2>/dev/null)" == "$port" ]] || continue
        other="$(cat "$(dirname -- "$(dirname -- "$pidfile")")/project-root" 2>/dev/null || true)"
        [[ -n "$other" ]] && printf 'the frontline cluster of %s (stop it with %s/scripts/db.sh stop)\n' "$other" "$other"
        return 0
    done
    printf 'another program (not this project'"'"'s cluster)\n'
}

# Ports other frontline checkouts on this machine remember (their clusters may be stopped now,
# but will want their port back), one a line.
ports_of_other_checkouts() {
    local root
    {
        cat /var/tmp/frontline-pg/*/project-root 2>/dev/null || true
        printf '%s\n' "$ROOT"/../*/
    } | while IFS= read -r root; do
        root="${root%/}"
        [[ -n "$root" && -r "$root/.local/pg-port" ]] || continue
        [[ "$(cd -- "$root" 2>/dev/null && pwd -P || true)" != "$ROOT" ]] || continue
        tr -d '[:space:]' <"$root/.local/pg-port" || true
        echo
    done
    return 0
}

# Choose a free port for this checkout's cluster and remember it in .local/pg-port.
choose_port() {
    local port taken
    taken="$(ports_of_other_checkouts)"
    for ((port = FIRST_PORT; port < FIRST_PORT + PORT_CHOICES; port++)); do
        grep -qx "$port" <<<"$taken" && continue
        tcp_open 127.0.0.1 "$port" && continue
        remember_port "$port"
        log "chose port $port for this checkout's cluster (remembered in $PORT_FILE)"
        return 0
    done
    die "no free port in $FIRST_PORT-$((FIRST_PORT + PORT_CHOICES - 1)) on 127.0.0.1 for the local cluster." \
        "Choose one:  FRONTLINE_PG_PORT=PORT $0"
}

remember_port() {
    set_port "$1"
    mkdir -p "$LOCAL_DIR"
    printf '%s\n' "$PORT" >"$PORT_FILE.tmp"
    mv -f -- "$PORT_FILE.tmp" "$PORT_FILE"
}

cluster_running() { [[ -f "$DATA/postmaster.pid" ]] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

# Compose the postgres options. Throwaway local dev/test cluster: durability is traded for speed
# (fsync/synchronous_commit/full_page_writes off; a crash may lose or corrupt data, which does not
# matter here). max_connections is high because tests run in parallel, each with its own database
# and pool.
server_options() {
    local sock="$SOCKDIR" sockopt
    # A Unix socket path must fit in 107 bytes and the directory list is comma-separated;
    # if ours does not fit, go TCP-only.
    if ((${#sock} + 16 > 107)) || [[ "$sock" == *[,\"]* ]]; then
        sockopt="''"
    else
        # pg_ctl passes -o through /bin/sh: single-quote the path.
        sockopt="'${sock//\'/\'\\\'\'}'"
    fi
    printf '%s' "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$sockopt" \
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        " -c max_connections=300 -c shared_buffers=128MB"
}

start_local_cluster() {
    local want="" running_port pid out loc locales

    if [[ -f "$DATA/PG_VERSION" ]]; then
        want="$(cat "$DATA/PG_VERSION")"
    fi
    if ! PGBIN="$(find_server_bin "$want")"; then
        if [[ -n "$want" ]] && find_server_bin >/dev/null; then
            die "the local cluster in $DATA was made by PostgreSQL $want, which is no longer installed." \
                "Install it again, or delete the cluster with: scripts/db.sh destroy"
        fi
        if ((IS_ROOT)); then
            install_postgresql
            PGBIN="$(find_server_bin "$want")" ||
                die "installed the postgresql package, but still found no initdb/pg_ctl/postgres"
        else
            die "PostgreSQL server programs (initdb, pg_ctl, postgres) were not found." \
                "Install Debian's postgresql package:   sudo apt-get install postgresql" \
                "or set DATABASE_URL to a reachable PostgreSQL server whose role can create databases," \
                "e.g. export DATABASE_URL=postgres://user:password@host:5432/frontline"
        fi
    fi

    prepare_cluster_dir

    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        if [[ -d "$DATA" && -n "$(ls -A "$DATA")" ]]; then
            die "$DATA exists but holds no initialised cluster; remove it (scripts/db.sh destroy) and run again"
        fi
        locales="$(locale -a 2>/dev/null || true)"
        if grep -qiE '^c\.utf-?8$' <<<"$locales"; then loc=C.UTF-8; else loc=C; fi
        log "initialising a PostgreSQL $(bin_major "$PGBIN" || echo '?') cluster in $DATA (locale $loc, owner $PG_USER)"
        if ! out="$(as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust \
            --encoding=UTF8 --locale="$loc" --no-sync 2>&1)"; then
            printf '%s\n' "$out" >&2
            die "initdb failed"
        fi
    fi

    if cluster_running; then
        running_port="$(sed -n 4p "$DATA/postmaster.pid")"
        pid="$(sed -n 1p "$DATA/postmaster.pid")"
        if [[ -r "/proc/$pid/comm" ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != postgres* ]]; then
            # After a reboot or container restart the old PID may belong to another process.
            warn "stale postmaster.pid (PID $pid is not postgres); removing it and the socket lock"
            rm -f "$DATA/postmaster.pid" "$SOCKDIR"/.s.PGSQL.*
        elif wait_ready "$running_port" 15; then
            if [[ -z "$PORT" ]]; then
                # A cluster from before ports were remembered: keep the one it runs on.
                remember_port "$running_port"
            elif [[ "$running_port" != "$PORT" ]]; then
                warn "the local cluster is already running on port $running_port, not $PORT; using it" \
                    "(scripts/db.sh stop, then run again to move it)"
                set_port "$running_port"
            fi
            log "reusing the local cluster on 127.0.0.1:$PORT ($CLUSTER)"
            return 0
        else
            tail -n 20 "$LOGFILE" >&2 2>/dev/null || true
            die "the local cluster (PID $pid) is running but does not accept connections on port $running_port" \
                "log: $LOGFILE"
        fi
    fi

    if [[ -z "$PORT" ]]; then
        choose_port
    elif tcp_open 127.0.0.1 "$PORT"; then
        if ((PORT_FROM_ENV)); then
            die "port $PORT on 127.0.0.1 is already taken by $(describe_port_user "$PORT")." \
                "Pick another port for this project's cluster, e.g.  FRONTLINE_PG_PORT=$((PORT + 1)) $0," \
                "or unset FRONTLINE_PG_PORT to use a free one"
        fi
        warn "port $PORT, remembered for this checkout, is now taken by $(describe_port_user "$PORT"); choosing another"
        choose_port
    fi

    log "starting the local cluster on 127.0.0.1:$PORT (log: $LOGFILE)"
    if ! out="$(as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -o "$(server_options)" -w -t 60 start 2>&1)"; then
        printf '%s\n' "$out" >&2
        tail -n 20 "$LOGFILE" >&2 2>/dev/null || true
        die "could not start PostgreSQL (log: $LOGFILE)"
    fi
    wait_ready "$PORT" 30 || die "PostgreSQL started but does not answer on 127.0.0.1:$PORT (log: $LOGFILE)"
}

with_lock() {
    mkdir -p "$LOCAL_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCAL_DIR/db.lock"
        flock -w 300 9 || die "timed out waiting for another scripts/db.sh run (lock: $LOCAL_DIR/db.lock)"
    fi
    "$@"
    if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
}

cmd_url() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        if url_reachable "$DATABASE_URL"; then
            log "using DATABASE_URL=$(mask_url "$DATABASE_URL")"
            printf '%s\n' "$DATABASE_URL" >&3
            return 0
        fi
        if [[ -n "$LOCAL_URL" && "$DATABASE_URL" == "$LOCAL_URL" ]]; then
            log "the local cluster is not running; starting it"
        else
            warn "DATABASE_URL=$(mask_url "$DATABASE_URL") is not reachable; starting the project-local PostgreSQL instead"
        fi
    fi
    with_lock start_local_cluster
    log "DATABASE_URL=$LOCAL_URL"
    printf '%s\n' "$LOCAL_URL" >&3
}

# For status/stop/destroy: the bin dir matching an existing cluster, if any.
existing_cluster_bin() {
    [[ -f "$DATA/PG_VERSION" ]] || return 1
    PGBIN="$(find_server_bin "$(cat "$DATA/PG_VERSION")")" ||
        die "PostgreSQL $(cat "$DATA/PG_VERSION") (which made $DATA) is not installed"
}

cmd_status() {
    if ! existing_cluster_bin; then
        log "no local cluster (would live in $CLUSTER)"
        return 3
    fi
    if cluster_running; then
        log "local cluster running on 127.0.0.1:$(sed -n 4p "$DATA/postmaster.pid") (data: $DATA, log: $LOGFILE)"
        return 0
    fi
    log "local cluster stopped (data: $DATA)"
    return 3
}

do_stop() {
    if ! existing_cluster_bin; then
        log "no local cluster in $CLUSTER; nothing to stop"
        return 0
    fi
    if ! cluster_running; then
        log "local cluster is not running"
        return 0
    fi
    log "stopping the local cluster ($DATA)"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    log "stopped"
}

do_destroy() {
    do_stop
    case "$CLUSTER" in
    /var/tmp/frontline-pg/?* | "$ROOT/.local/postgres") ;;
    *) die "refusing to delete unexpected path $CLUSTER" ;;
    esac
    if [[ -e "$CLUSTER" ]]; then
        log "deleting $CLUSTER"
        rm -rf -- "$CLUSTER"
    fi
    if [[ -L "$LINK" ]]; then rm -f -- "$LINK"; fi
}

case "${1:-url}" in
url | start) cmd_url ;;
status) cmd_status ;;
stop) with_lock do_stop ;;
destroy) with_lock do_destroy ;;
-h | --help | help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&3 ;;
*) die "unknown command '$1' (expected: status, stop, destroy, or nothing)" ;;
esac
