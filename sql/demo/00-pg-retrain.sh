# First-start setup of the pg_retrain image, sourced by the postgres image's entrypoint
# while its init-time server runs (local socket only). Leaves the database POSTGRES_DB
# with pg_cron and pg_retrain installed and retrain on its search_path.

retrain_psql=(psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password)

# cron.database_name is read at server start only, and the image cannot know
# POSTGRES_DB when it is built. When they differ, write it and restart the init-time
# server, which pg_ctl restarts with the options it was started with.
cron_db="$("${retrain_psql[@]}" --dbname postgres -A -t -c 'SHOW cron.database_name')"
if [ "$cron_db" != "$POSTGRES_DB" ]; then
	echo "pg_retrain: cron.database_name = '$POSTGRES_DB' (was '$cron_db'), restarting"
	printf "cron.database_name = '%s'\n" "$POSTGRES_DB" >> "$PGDATA/postgresql.conf"
	pg_ctl -D "$PGDATA" -m fast -w restart
fi

# search_path with retrain last, so that `SELECT train_pipeline(...)` works unqualified
# and a table of the user's own never loses to a name of the extension.
"${retrain_psql[@]}" --dbname "$POSTGRES_DB" -v db="$POSTGRES_DB" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS pg_retrain;
ALTER DATABASE :"db" SET search_path = "$user", public, retrain;
SQL

unset retrain_psql cron_db
