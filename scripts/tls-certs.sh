#!/usr/bin/env bash
# tls-certs.sh: a private CA and one certificate per node for dynkv's TLS,
# made with openssl (ECDSA P-256 keys, SHA-256 signatures).
#
# Usage: scripts/tls-certs.sh [-d DIR] [-n NODES] [-p PREFIX] [-H HOSTS] [-D DAYS]
#   -d DIR     where the files go (default ./dynkv-tls)
#   -n NODES   how many node certificates (default 3): PREFIX1 .. PREFIXN
#   -p PREFIX  node name prefix (default n, giving n1, n2, n3)
#   -H HOSTS   extra comma-separated host names or IP addresses every node
#              certificate names, besides its node name, localhost,
#              127.0.0.1 and ::1 (e.g. -H 10.0.0.5,10.0.0.6,db.example.com;
#              a client checks the host of the endpoint it dials, a node the
#              host of the peer's --rpc-addr, unless --tls-server-name)
#   -D DAYS    validity of the node certificates (default 825; the CA: 3650)
#
# It writes, in DIR:
#   ca.pem, ca-key.pem      the CA: give ca.pem to every node (--tls-ca) and
#                           client (--ca-file, curl --cacert); keep
#                           ca-key.pem offline
#   n1.pem, n1-key.pem ...  each node's certificate and key (--tls-cert,
#                           --tls-key), good for both server and client
#                           authentication (mutual TLS between nodes)
#
# An existing ca.pem / ca-key.pem in DIR is reused, so running the script
# again issues new node certificates (more nodes, or a rotation: replace the
# files and send the node SIGHUP) under the same CA.
set -euo pipefail

dir=./dynkv-tls nodes=3 prefix=n hosts="" days=825
while getopts "d:n:p:H:D:h" opt; do
	case $opt in
	d) dir=$OPTARG ;;
	n) nodes=$OPTARG ;;
	p) prefix=$OPTARG ;;
	H) hosts=$OPTARG ;;
	D) days=$OPTARG ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
command -v openssl >/dev/null || { echo "tls-certs.sh: openssl is not installed" >&2; exit 1; }
[[ $nodes =~ ^[0-9]+$ && $nodes -ge 1 ]] || { echo "tls-certs.sh: -n wants a positive number, got '$nodes'" >&2; exit 2; }
[[ $days =~ ^[0-9]+$ && $days -ge 1 ]] || { echo "tls-certs.sh: -D wants a positive number of days, got '$days'" >&2; exit 2; }

mkdir -p "$dir"
umask 077
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ -f $dir/ca.pem && -f $dir/ca-key.pem ]]; then
	echo "reusing the CA in $dir/ca.pem"
else
	newkey "$dir/ca-key.pem"
	openssl req -x509 -new -key "$dir/ca-key.pem" -sha256 -days 3650 -subj "/CN=dynkv CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$dir/ca.pem"
	echo "made the CA: $dir/ca.pem (keep $dir/ca-key.pem offline)"
fi

# sans NAME: the subjectAltName of node NAME.
sans() {
	local out="DNS:$1,DNS:localhost,IP:127.0.0.1,IP:::1" h
	IFS=, read -ra extra <<<"$hosts"
	for h in "${extra[@]}"; do
		[[ -z $h ]] && continue
		if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then out+=",IP:$h"; else out+=",DNS:$h"; fi
	done
	echo "$out"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 1 "$nodes"); do
	name=$prefix$i
	newkey "$dir/$name-key.pem"
	openssl req -new -key "$dir/$name-key.pem" -subj "/CN=$name" -out "$tmp/$name.csr"
	cat >"$tmp/$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$(sans "$name")
EXT
	openssl x509 -req -in "$tmp/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
		-days "$days" -sha256 -extfile "$tmp/$name.ext" -out "$dir/$name.pem" 2>/dev/null
	echo "made $dir/$name.pem and $dir/$name-key.pem for $(sans "$name")"
done
chmod 644 "$dir"/ca.pem "$dir"/*[0-9].pem 2>/dev/null || true
