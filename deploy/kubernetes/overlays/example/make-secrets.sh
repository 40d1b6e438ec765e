#!/bin/sh
# Makes the files the example overlay's Secrets are generated from, in
# secrets/ (ignored by git): a CA and one certificate for the gates and
# tablets (name shardgate-tablet, which --tablet-server-name expects, and
# every DNS name of the gate Service in the overlay's namespace shardgate,
# which clients that verify the certificate connect by), a users file with
# a random root password, and S3 credentials to fill in.
set -eu
cd "$(dirname "$0")/secrets"
umask 077
[ -f ca.key ] || openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj /CN=shardgate-ca -keyout ca.key -out ca.crt
if [ ! -f tls.key ]; then
  openssl req -newkey rsa:3072 -nodes -subj /CN=shardgate-tablet -keyout tls.key -out tls.csr
  san=DNS:shardgate-tablet,DNS:gate,DNS:gate.shardgate,DNS:gate.shardgate.svc,DNS:gate.shardgate.svc.cluster.local
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > ext.cnf
  openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -extfile ext.cnf -out tls.crt
  rm -f tls.csr ext.cnf
fi
if [ ! -f users.json ]; then
  pw=$(openssl rand -hex 16)
  printf '{"users": [{"user": "root", "password": "%s"}]}\n' "$pw" > users.json
  echo "root's password is in $(pwd)/users.json"
fi
[ -f s3-credentials ] || printf '[default]\naws_access_key_id = CHANGE-ME\naws_secret_access_key = CHANGE-ME\n' > s3-credentials
echo "secrets in $(pwd); edit s3-credentials, then: kubectl apply -k $(dirname "$(pwd)")"
