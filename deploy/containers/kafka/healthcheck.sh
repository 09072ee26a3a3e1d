#!/bin/bash
# Healthy once the broker accepts connections on its client port (a file of
# its own: compose tools quote a healthcheck's arguments in their own ways).
exec 3<>/dev/tcp/127.0.0.1/9092
