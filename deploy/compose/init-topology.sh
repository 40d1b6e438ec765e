#!/bin/sh
# One-shot job of docker-compose.yml, before the tablets start: the keyspace
# commerce with shards -80 and 80-, its vschema, and the backup bucket.
# Safe to run again (`docker compose up` after a stop runs it again).
set -eu
topo="$1"     # etcd endpoint
s3="$2"       # S3 endpoint URL, e.g. http://s3:7070
vschema="$3"  # the keyspace's vschema JSON file
ctl() { shardctl --log-format=json --topo="$topo" "$@"; }

until ctl keyspace list >/dev/null 2>&1; do sleep 1; done
if ! ctl keyspace get commerce >/dev/null 2>&1; then
  ctl keyspace create commerce --shards=-80,80-
fi
ctl vschema apply commerce --file="$vschema"

# The bucket, through the S3 API (curl signs the request); credentials
# come from the tablets' credentials file, on curl's standard input.
key=$(sed -n 's/^aws_access_key_id *= *//p' "$AWS_SHARED_CREDENTIALS_FILE")
secret=$(sed -n 's/^aws_secret_access_key *= *//p' "$AWS_SHARED_CREDENTIALS_FILE")
status=$(printf 'user = "%s:%s"\n' "$key" "$secret" | curl -sS -K - -o /dev/null -w '%{http_code}' \
  --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT "$s3/backups")
case "$status" in
  200|409) echo "bucket backups ready ($status)" ;;
  *) echo "creating bucket backups at $s3: HTTP $status" >&2; exit 1 ;;
esac
