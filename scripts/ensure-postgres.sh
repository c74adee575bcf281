#!/usr/bin/env bash
# Make sure a PostgreSQL server with the PostGIS and btree_gist extensions is reachable,
# installing (Debian/apt) and starting a local one on 127.0.0.1:5432 when needed, and that
# the target database exists.
#
# Target: $DATABASE_URL, else postgres://postgres@127.0.0.1:5432/shiftwire.
# Output: the last (and only) stdout line is `DATABASE_URL=<url in use>`; every other
# message goes to stderr, prefixed with "ensure-postgres: ". Idempotent.
set -euo pipefail

# Keep stdout for the final line only; everything else (apt, pg_ctlcluster, ...) -> stderr.
exec 3>&1 1>&2

export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-3}"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
PG_MAJOR=15 # what we install when no PostgreSQL is present at all
LOCAL=127.0.0.1:5432
DEFAULT_URL="postgres://postgres@$LOCAL/shiftwire"
HINT="install PostgreSQL 15 + PostGIS 3 (Debian: apt-get install postgresql-15 postgresql-15-postgis-3) or run 'docker compose up -d db' (compose wants JWT_SECRET, OTP_SECRET, SMS_WEBHOOK_URL set) and set DATABASE_URL=postgres://postgres:shiftwire@127.0.0.1:5432/shiftwire"

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
redact() { sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$1"; }

# --- URLs -----------------------------------------------------------------------------------
URL_RE='^(postgres(ql)?://[^/?]*)(/([^?]*))?(\?.*)?$'
url_part() { # url_part URL base|db|query
  [[ $1 =~ $URL_RE ]] || die "not a postgres:// URL: $(redact "$1")"
  case $2 in base) echo "${BASH_REMATCH[1]}" ;; db) echo "${BASH_REMATCH[4]}" ;; query) echo "${BASH_REMATCH[5]}" ;; esac
}
with_db() { echo "$(url_part "$1" base)/$2$(url_part "$1" query)"; }
url_is_local() {
  local host; host=$(url_part "$1" base); host=${host#*://}; host=${host##*@}
  [[ $host =~ ^(127\.0\.0\.1|localhost|\[::1\])?(:[0-9]+)?$ ]]
}

LAST_ERR=""
answers() { # answers URL -> 0 if we can run a query there
  command -v psql >/dev/null || { LAST_ERR="psql is not installed"; return 1; }
  LAST_ERR=$(psql -X "$1" -Atqc 'select 1' 2>&1 >/dev/null) && return 0
  LAST_ERR=$(head -n1 <<<"$LAST_ERR"); return 1
}

# --- privileges / apt -----------------------------------------------------------------------
can_root() { [[ $EUID -eq 0 ]] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }
as_root() { # run as root where we can; otherwise try as ourselves (e.g. we own the cluster)
  # 3>&-: a server started from here must not hold our stdout open (`| tail -n1` would hang).
  if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n "$@" 3>&-
  else "$@" 3>&-; fi
}
as_postgres_psql() { # SQL on stdin, as the postgres OS user over the local socket (peer auth)
  if [[ $EUID -eq 0 ]]; then su postgres -s /bin/sh -c 'cd / && exec psql -X -q -p 5432 -v ON_ERROR_STOP=1'
  else sudo -n -u postgres psql -X -q -p 5432 -v ON_ERROR_STOP=1; fi
}
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null && can_root || return 1
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    as_root "${apt[@]}" update || return 1
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  as_root "${apt[@]}" install -y --no-install-recommends "$@"
}

# --- local server ---------------------------------------------------------------------------
pg_installed() { [[ -n "$(ls /etc/postgresql 2>/dev/null)" ]] && command -v pg_ctlcluster >/dev/null; }
local_ready() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 -t 2; }

start_local() {
  local ver="" name="" status=""
  read -r ver name status < <(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print $1, $2, $4; exit }') || true
  if [[ -z $ver ]]; then
    # shellcheck disable=SC2012 # version dirs are plain numbers
    ver=$(ls /etc/postgresql | sort -V | tail -n1) name=main
    if [[ -z "$(pg_lsclusters -h 2>/dev/null)" ]]; then
      log "creating PostgreSQL cluster $ver/$name"
      as_root pg_createcluster "$ver" "$name" || die "pg_createcluster $ver $name failed"
    fi
  fi
  if [[ $status != online* ]]; then
    log "starting PostgreSQL cluster $ver/$name"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start ||
      as_root pg_ctlcluster "$ver" "$name" start ||
      die "could not start PostgreSQL cluster $ver/$name (needs root; see /var/log/postgresql/); or set DATABASE_URL to a running server"
  fi
  local deadline=$((SECONDS + 30))
  until local_ready; do
    ((SECONDS < deadline)) || die "PostgreSQL did not accept connections on $LOCAL within 30 s (see /var/log/postgresql/)"
    sleep 0.2
  done
}

ensure_local_server() {
  local_ready && return 0
  if ! pg_installed; then
    log "no PostgreSQL installed; installing PostgreSQL $PG_MAJOR with PostGIS 3"
    apt_install "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-postgis-3" ||
      die "cannot install PostgreSQL automatically (needs apt-get and root or password-less sudo): $HINT"
  fi
  start_local
}

pick_local_url() { # pick_local_url DB -> echo a working URL for DB on the local server
  local db=$1 u
  local candidates=("postgres://postgres@$LOCAL/$db" "postgres://postgres:postgres@$LOCAL/$db")
  [[ -n ${DATABASE_URL:-} ]] && candidates=("$DATABASE_URL" "${candidates[@]}")
  for u in "${candidates[@]}"; do
    answers "$(with_db "$u" postgres)" && { echo "$u"; return 0; }
  done
  # Fresh Debian install: peer auth on the socket, scram over TCP. Give postgres a password.
  if pg_installed && can_root; then
    log "role postgres cannot sign in over TCP ($LAST_ERR); setting its password to a local-dev default"
    as_postgres_psql <<<"ALTER USER postgres PASSWORD 'postgres'" || die "could not set the postgres password"
    u="postgres://postgres:postgres@$LOCAL/$db"
    answers "$(with_db "$u" postgres)" && { echo "$u"; return 0; }
  fi
  die "a server answers on $LOCAL but refuses role postgres ($LAST_ERR); set DATABASE_URL to a superuser URL"
}

# --- main -----------------------------------------------------------------------------------
URL="${DATABASE_URL:-$DEFAULT_URL}"
DB=$(url_part "$URL" db)
[[ -n $DB ]] || die "DATABASE_URL must name a database: $(redact "$URL")"
ADMIN_URL=$(with_db "$URL" postgres)

if ! answers "$ADMIN_URL"; then
  if [[ -n ${DATABASE_URL:-} ]]; then
    log "DATABASE_URL $(redact "$URL") does not answer ($LAST_ERR); trying the local server on $LOCAL"
  fi
  ensure_local_server
  URL=$(pick_local_url "$DB")
  ADMIN_URL=$(with_db "$URL" postgres)
  log "using $(redact "$URL")"
fi

# Extensions available on the server? (postgis comes from a separate package)
IFS='|' read -r MAJOR HAVE_POSTGIS HAVE_BTREE_GIST < <(psql -X "$ADMIN_URL" -Atq -c \
  "select current_setting('server_version_num')::int / 10000,
          count(*) filter (where name = 'postgis'), count(*) filter (where name = 'btree_gist')
     from pg_available_extensions") || die "could not query $(redact "$ADMIN_URL")"
missing=()
[[ $HAVE_POSTGIS == 0 ]] && missing+=("postgresql-$MAJOR-postgis-3")
[[ $HAVE_BTREE_GIST == 0 ]] && missing+=("postgresql-contrib-$MAJOR")
if ((${#missing[@]})); then
  if url_is_local "$URL" && [[ -d /usr/lib/postgresql/$MAJOR ]]; then
    log "extension packages missing on the local PostgreSQL $MAJOR server; installing ${missing[*]}"
    apt_install "${missing[@]}" ||
      die "could not install ${missing[*]} (needs apt-get and root or password-less sudo); install it by hand, or $HINT"
  else
    die "PostGIS/btree_gist not available on $(redact "$URL"); install ${missing[*]} on that server, or $HINT"
  fi
fi

# Target database.
if [[ "$(psql -X "$ADMIN_URL" -Atq -v db="$DB" <<<"select count(*) from pg_database where datname = :'db'")" == 0 ]]; then
  log "creating database $DB"
  psql -X "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -v db="$DB" <<<"select format('create database %I', :'db') \\gexec" ||
    die "could not create database $DB (does the role have CREATEDB?)"
fi

# Prove the extensions can be created in the target DB (migrations create them too).
psql -X "$URL" -q -v ON_ERROR_STOP=1 \
  -c 'create extension if not exists postgis' -c 'create extension if not exists btree_gist' ||
  die "could not create the postgis/btree_gist extensions in $DB (the role must be a superuser)"

log "ready: PostgreSQL $MAJOR with postgis and btree_gist, database $DB"
echo "DATABASE_URL=$URL" >&3
