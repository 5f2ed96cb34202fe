#!/bin/sh
# Assembles the runtime image's whole filesystem in OUT (the Containerfile's
# build stage runs it; tests/deploy.rs runs it on the host's build):
#   /usr/local/bin/esprit                  the binary
#   /usr/local/lib/esprit/plugins/*.wasm   the plugins esprit ships
#   /lib..., /lib64/ld-linux...            the shared libraries it links (glibc, libgcc_s)
#   /etc/passwd, /etc/group                root and esprit (65532), the image's user
#   /etc/esprit, /etc/esprit-secret,       mount points (ConfigMap, Secret,
#   /run/esprit, /tmp                      control socket, scratch)
# usage: deploy/rootfs.sh ESPRIT_BINARY PLUGIN_DIR OUT
set -eu
[ "$#" -eq 3 ] || { echo "usage: $0 ESPRIT_BINARY PLUGIN_DIR OUT" >&2; exit 2; }
bin=$1 plugins=$2 out=$3
PLUGINS="psk_auth x509_auth null_auth allowlist oe_policy per_port_sa time_window"

[ -x "$bin" ] || { echo "$0: $bin is not an executable" >&2; exit 1; }
install -d -m 0755 "$out/usr/local/bin" "$out/usr/local/lib/esprit/plugins" "$out/etc/esprit" "$out/etc/esprit-secret" "$out/run/esprit"
install -d -m 1777 "$out/tmp"
install -m 0755 "$bin" "$out/usr/local/bin/esprit"
# Debug info off (symbols stay, for backtraces): ~10x smaller.
if command -v strip >/dev/null 2>&1; then strip --strip-debug "$out/usr/local/bin/esprit"; fi
for p in $PLUGINS; do
    [ -f "$plugins/$p.wasm" ] || { echo "$0: $plugins/$p.wasm is missing (build plugins/ first)" >&2; exit 1; }
    install -m 0644 "$plugins/$p.wasm" "$out/usr/local/lib/esprit/plugins/$p.wasm"
done
# Every library the dynamic loader resolves, and the loader itself (its
# line has no "=>"), copied with their contents (install follows symlinks);
# executable, as the loader must be.
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    install -D -m 0755 "$lib" "$out$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nesprit:x:65532:65532:esprit:/nonexistent:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nesprit:x:65532:\n' >"$out/etc/group"
printf 'hosts: files dns\n' >"$out/etc/nsswitch.conf"
