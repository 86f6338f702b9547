#!/usr/bin/env bash
# Print where everything started by `make up` can be reached.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cat <<TXT

  API          http://127.0.0.1:$SERVE_PORT/v1/embeddings
  OpenAPI docs http://127.0.0.1:$SERVE_PORT/docs
  Ray dashboard $RAY_DASHBOARD_ADDRESS
  Ray metrics  http://127.0.0.1:$METRICS_PORT/metrics
  Prometheus   http://127.0.0.1:${PROM_PORT:-9090}   (dashboards: monitoring/README.md)
  Alertmanager http://127.0.0.1:${AM_PORT:-9093}   (notifications: $RUN_DIR/alertmanager/notifications.jsonl)

  Try:   curl -s 127.0.0.1:$SERVE_PORT/v1/embeddings -H "Authorization: Bearer \$API_KEY" \\
           -H 'content-type: application/json' -d '{"input":["hello world"],"model":"all-MiniLM-L6-v2"}'
         (API_KEY: printed by the first make up; new keys: python -m deployments.security.manage_keys add NAME)
  CLI:   source cluster/local/env.sh && serve status
TXT
