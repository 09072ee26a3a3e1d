#!/bin/sh
# Redis for `nuri compose` and the `local` overlay: in memory only, as
# `nuri infra` uses it (the coupon service rebuilds its state from MariaDB
# and the core's records when Redis loses it).
set -eu
exec redis-server --bind 0.0.0.0 --protected-mode no --save '' --appendonly no --dir /tmp
