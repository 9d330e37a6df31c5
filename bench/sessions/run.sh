#!/usr/bin/env bash
# Hot-row throughput of use_session on ONE pack: pgbench calling the function directly, then the same
# call through HTTP (POST /rest/v1/rpc/use_session), in one run on one throwaway cluster.
# usage: bench/sessions/run.sh [seconds=10] [clients=8]
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
CLIENTS=${2:-8}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=${BENCH_PG_PORT:-55442}
HTTP_PORT=${BENCH_HTTP_PORT:-5091}
WORK=$(mktemp -d /tmp/lockstep-bench-XXXXXX)
AS=(); if [ "$(id -u)" = 0 ]; then chown postgres "$WORK"; AS=(runuser -u postgres --); fi
export Lockstep__JwtSecret=bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz
export Lockstep__Sessions__AutoCompleteInterval=0
export ConnectionStrings__Lockstep="Host=127.0.0.1;Port=$PORT;Username=postgres;Database=bench"
PSQL=("$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d bench -At -q -v ON_ERROR_STOP=1)

cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"${AS[@]}" "$PGBIN/initdb" -D "$WORK/data" -A trust -U postgres >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w \
  -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres bench

cd "$ROOT"
./lockstep serve --urls "http://127.0.0.1:$HTTP_PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$HTTP_PORT/health/ready" >/dev/null && break; sleep 1; done

USER_ID=$(cat /proc/sys/kernel/random/uuid)
PACK=$("${PSQL[@]}" <<SQL
select set_config('request.jwt.claims', '{"sub":"$USER_ID"}', false) \g /dev/null
select public.create_workspace('Bench') ->> 'workspace_id' as ws \gset
insert into crm.clients (workspace_id, name) values (:'ws', 'Hot') returning id as client \gset
insert into sessions.purchases (workspace_id, client_id, sessions_total) values (:'ws', :'client', 2000000000) returning id;
SQL
)
cat >"$WORK/use_session.sql" <<SQL
begin;
select set_config('request.jwt.claims', '{"sub":"$USER_ID","role":"authenticated"}', true);
select public.use_session('$PACK');
commit;
SQL
echo "pack $PACK; $CLIENTS clients; $SECONDS_PER_RUN s each; $(nproc) cores"
echo "pgbench: $PGBIN/pgbench -n -M prepared -c $CLIENTS -j 2 -T $SECONDS_PER_RUN -f use_session.sql"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -f "$WORK/use_session.sql" bench \
  | grep -E "number of transactions actually processed|latency average|tps"
AFTER_PGBENCH=$("${PSQL[@]}" -c "select sessions_used from sessions.purchases where id = '$PACK'")

TOKEN=$(./lockstep token --user "$USER_ID")
echo "http: POST /rest/v1/rpc/use_session {\"p_purchase_id\": \"$PACK\"}, $CLIENTS concurrent loops"
dotnet run bench/sessions/HttpLoad.cs -- "http://127.0.0.1:$HTTP_PORT/rest/v1/rpc/use_session" "$TOKEN" \
  "{\"p_purchase_id\": \"$PACK\"}" "$SECONDS_PER_RUN" "$CLIENTS"
FINAL=$("${PSQL[@]}" -c "select sessions_used from sessions.purchases where id = '$PACK'")
echo "sessions_used: $AFTER_PGBENCH after pgbench, $FINAL after http (each true above is one increment)"
