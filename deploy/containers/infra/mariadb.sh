#!/bin/sh
# MariaDB for `nuri compose` and the `local` overlay: a data folder made on
# first start (a volume), root without a password from any address
# (development only, as deploy/compose/infra.yaml's
# MARIADB_ALLOW_EMPTY_ROOT_PASSWORD), socket and pid in /tmp.
set -eu
datadir=${MARIADB_DATA_DIR:-/var/lib/nuri/mariadb/data}
if [ ! -d "$datadir/mysql" ]; then
  mkdir -p "$datadir"
  mariadb-install-db --datadir="$datadir" --auth-root-authentication-method=normal --skip-test-db \
    --skip-name-resolve >/dev/null
fi
# Run at every start, idempotent: root may connect over the network.
cat > /tmp/mariadb-init.sql <<'SQL'
CREATE USER IF NOT EXISTS 'root'@'%';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
exec mariadbd --datadir="$datadir" --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid \
  --bind-address=0.0.0.0 --skip-name-resolve --init-file=/tmp/mariadb-init.sql \
  --max-connections="${MARIADB_MAX_CONNECTIONS:-300}" --innodb-buffer-pool-size=128M
