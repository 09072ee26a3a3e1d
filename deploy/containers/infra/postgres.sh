#!/bin/sh
# PostgreSQL for `nuri compose` and the `local` overlay: a cluster made on
# first start in PGDATA (a volume), every connection trusted (development
# only, as deploy/compose/infra.yaml's POSTGRES_HOST_AUTH_METHOD=trust),
# sockets and pid in /tmp so the root filesystem may be read-only.
set -eu
PGDATA=${PGDATA:-/var/lib/nuri/postgres/data}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --pgdata="$PGDATA" --username=postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo 'host all all 0.0.0.0/0 trust' >> "$PGDATA/pg_hba.conf"
  echo 'host all all ::/0 trust' >> "$PGDATA/pg_hba.conf"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp \
  -c max_connections="${POSTGRES_MAX_CONNECTIONS:-200}" -c shared_buffers=128MB -c fsync=on
