#!/usr/bin/env bash
# `make install`: copies what `make build` made into $DESTDIR$PREFIX (PREFIX defaults to
# /usr/local):
#   bin/dcconn                                   the host
#   share/dcconn/duckcreek_connector.wasm        the component, where dcconn looks for it
#   share/dcconn/packages/*.json                 the shipped connection packages
#   share/dcconn/schemas/*.schema.json           the JSON Schemas of the output contract
#   share/dcconn/config.example.toml             an example profiles file
#   share/bash-completion/completions/dcconn, share/zsh/site-functions/_dcconn,
#   share/fish/vendor_completions.d/dcconn.fish  shell completions
# DCCONN_BIN and DCCONN_COMPONENT name other files to install (the tests use them).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${PREFIX:-/usr/local}
root="${DESTDIR:-}$prefix"
binary=${DCCONN_BIN:-target/release/dcconn}
component=${DCCONN_COMPONENT:-target/wasm32-wasip2/release/duckcreek_connector.wasm}
share="$root/share/dcconn"

for file in "$binary" "$component"; do
    if [ ! -f "$file" ]; then
        echo "install: $file is missing; run \`make build\` first" >&2
        exit 1
    fi
done

install -D -m 755 "$binary" "$root/bin/dcconn"
install -D -m 644 "$component" "$share/duckcreek_connector.wasm"
install -d -m 755 "$share/packages" "$share/schemas"
install -m 644 packages/*.json "$share/packages/"
install -m 644 schemas/*.schema.json "$share/schemas/"
install -m 644 examples/config.toml "$share/config.example.toml"

# The installed binary writes its own completions; no profile of the installing user applies.
completions() {
    env -u DCCONN_PROFILE -u DCCONN_CONFIG "$root/bin/dcconn" completions "$1"
}
install -d -m 755 "$root/share/bash-completion/completions" "$root/share/zsh/site-functions" \
    "$root/share/fish/vendor_completions.d"
completions bash > "$root/share/bash-completion/completions/dcconn"
completions zsh > "$root/share/zsh/site-functions/_dcconn"
completions fish > "$root/share/fish/vendor_completions.d/dcconn.fish"

echo "installed dcconn in $root/bin and its component, packages, schemas and example profiles in $share"
