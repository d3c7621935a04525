# Sourced by the scripts that need a throwaway PostgreSQL cluster (demo, benchmark,
# scheduling checks).
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

# stop_cluster PG_BIN DATA
# Stops the server running in DATA, if any (for an EXIT trap: never fails).
stop_cluster() {
    "${AS_PG[@]}" "$1/pg_ctl" -D "$2" stop -m fast >/dev/null 2>&1 || true
}

# install_private_copy PACKAGE TREE
# Copies the system PostgreSQL 15 installation into TREE and installs the extension
# package PACKAGE (the output of `cargo pgrx package`) into that copy. Anyone's
# `cargo pgrx test` or install on this machine overwrites the system's pg_retrain.so,
# which mixes builds in one run at best and kills a backend that has the old file mapped
# (SIGBUS) at worst. PostgreSQL finds its lib and share directories relative to its
# binaries, so the copy is a complete installation: its binaries are TREE/usr/lib/
# postgresql/15/bin.
install_private_copy() {
    local package=$1 tree=$2
    [ -f "$package/usr/lib/postgresql/15/lib/pg_retrain.so" ] || {
        echo "no package in $package: build it with cargo pgrx package" >&2; return 1; }
    echo "== installing it into a private copy of PostgreSQL 15 in $tree"
    rm -rf "$tree"
    mkdir -p "$tree/usr/lib/postgresql" "$tree/usr/share/postgresql"
    cp -a /usr/lib/postgresql/15 "$tree/usr/lib/postgresql/"
    cp -a /usr/share/postgresql/15 "$tree/usr/share/postgresql/"
    cp -a "$package/usr/." "$tree/usr/"
}
