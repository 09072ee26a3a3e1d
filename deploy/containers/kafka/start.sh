#!/bin/sh
# The Kafka image's entry point: a single-node KRaft broker (broker and
# controller) configured from the repository's infra/kafka/server.properties,
# with what a container changes appended (java.util.Properties keeps the last
# value of a key): it listens on every address, advertises the name clients
# reach it by, and keeps its data in KAFKA_DATA_DIR (a volume).
set -eu
config=/tmp/server.properties
sed "s#@LOG_DIRS@#${KAFKA_DATA_DIR}#" /opt/kafka/config/server.properties > "$config"
cat >> "$config" <<PROPERTIES
listeners=PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://${KAFKA_ADVERTISED_HOST}:9092
PROPERTIES
# The same fixed cluster id as `nuri infra` (src/cli/infra/kafka.ts): storage
# is formatted once and a restart finds its own data.
java -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format -t TnVyaUJhbmtMb2NhbEtSYQ -c "$config" \
  --ignore-formatted
# exec: the JVM becomes PID 1 and SIGTERM starts its controlled shutdown.
# Serial GC, as `nuri infra` runs it: less CPU per record than G1 on two cores.
exec java "-Xmx${KAFKA_HEAP_MAX_MB}m" -Xms128m -XX:+UseSerialGC \
  -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Djava.io.tmpdir=/tmp \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$config"
