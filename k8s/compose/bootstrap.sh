#!/bin/sh
# The one-shot `bootstrap` service of docker-compose.yml, run in the rancher/k3s image
# (busybox sh, kubectl and ctr) after the k3s server is healthy:
#   1. copies k3s's admin kubeconfig, with the server rewritten from 127.0.0.1 (where k3s
#      writes it) to https://k3s:6443 (k3s's certificate carries that name: --tls-san k3s);
#   2. applies k8s/platform/overlays/compose: the platform's identity, roles and policies;
#   3. writes a kubeconfig holding only the platform ServiceAccount's token, for web, worker
#      and beat (LABPLATFORM_KUBECONFIG), so the platform never acts as the k3s admin;
#   4. imports the workstation and rag-api images (saved by the `images` service) into
#      k3s's containerd, whose socket the k3s service shares on a volume.
# Every step is idempotent: the service runs again on each `docker compose up`.
set -eu

admin=/k3s-output/admin-kubeconfig.yaml
platform=/platform-kube/platform-kubeconfig
socket=/run/k3s/containerd/containerd.sock
say() { echo "[bootstrap] $*"; }

say "waiting for k3s's kubeconfig"
i=0
until [ -s /k3s-output/kubeconfig.yaml ]; do
    i=$((i + 1)); [ "$i" -le 120 ] || { say "k3s wrote no kubeconfig in 2 minutes"; exit 1; }
    sleep 1
done
sed 's#https://127.0.0.1:6443#https://k3s:6443#' /k3s-output/kubeconfig.yaml >"$admin.partial"
chmod 600 "$admin.partial"
mv "$admin.partial" "$admin"
export KUBECONFIG="$admin"
until kubectl get --raw /readyz >/dev/null 2>&1; do sleep 1; done

say "applying k8s/platform/overlays/compose"
kubectl apply --server-side --force-conflicts -k /k8s/platform/overlays/compose

say "writing the platform's own kubeconfig"
token=
i=0
until [ -n "$token" ]; do
    i=$((i + 1)); [ "$i" -le 60 ] || { say "the token controller filled no token in 60s"; exit 1; }
    token=$(kubectl -n labplatform-system get secret labplatform-token -o jsonpath='{.data.token}' | base64 -d)
    [ -n "$token" ] || sleep 1
done
ca=$(kubectl -n labplatform-system get secret labplatform-token -o jsonpath='{.data.ca\.crt}')
umask 077
cat >"$platform.partial" <<CONFIG
apiVersion: v1
kind: Config
clusters:
  - name: k3s
    cluster:
      server: https://k3s:6443
      certificate-authority-data: $ca
users:
  - name: labplatform
    user:
      token: $token
contexts:
  - name: labplatform
    context: {cluster: k3s, user: labplatform}
current-context: labplatform
CONFIG
# Readable by the platform's user (uid 10001) in the web, worker and beat containers only.
chown 10001:10001 "$platform.partial"
chmod 400 "$platform.partial"
mv "$platform.partial" "$platform"
kubectl --kubeconfig "$platform" auth whoami -o jsonpath='{.status.userInfo.username}{"\n"}'

say "importing the workstation and rag-api images into k3s's containerd"
ctr --address "$socket" --namespace k8s.io images import /images/labplatform-images.tar
say "done"
