# Sourced by the scripts that need a throwaway PostgreSQL cluster (demo, benchmark).
# Postgres refuses to run as root, so as root the server runs as the postgres user.

AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(sudo -u postgres)

# start_fresh_cluster PG_BIN DATA PORT SERVER_OPTIONS
# Stops a server left running in DATA, wipes DATA, initdb's it (trust authentication,
# superuser postgres) and starts a server on PORT with its socket in /tmp, passing
# SERVER_OPTIONS (e.g. "-c jit=off") to postgres.
start_fresh_cluster() {
    local pg_bin=$1 data=$2 port=$3 options=$4
    echo "== starting PostgreSQL 15 on port $port (data in $data)"
    if [ -f "$data/postmaster.pid" ]; then
        "${AS_PG[@]}" "$pg_bin/pg_ctl" -D "$data" stop -m fast >/dev/null || true
    fi
    rm -rf "$data"
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
    "${AS_PG[@]}" "$pg_bin/initdb" -D "$data" -A trust -U postgres >/dev/null
    "${AS_PG[@]}" "$pg_bin/pg_ctl" -D "$data" -l "$data/server.log" -w start \
        -o "-p $port -k /tmp $options" >/dev/null
}
