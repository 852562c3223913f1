#!/usr/bin/env bash
# Re-vendors the front-end assets from the npm registry into static/vendor/ (pages work offline).
# Usage: scripts/vendor-assets.sh   (needs npm; versions are pinned here and in static/vendor/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
BOOTSTRAP=5.3.9 ICONS=1.13.2 HTMX=2.0.11 CHARTJS=4.6.1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fetch() { (cd "$work" && npm pack --silent "$1@$2" >/dev/null && mkdir -p "$1" && tar -xzf "${1//\//-}-$2.tgz" -C "$1"); }
fetch bootstrap "$BOOTSTRAP"; fetch bootstrap-icons "$ICONS"; fetch htmx.org "$HTMX"; fetch chart.js "$CHARTJS"
out=static/vendor; rm -rf "$out"/{bootstrap,bootstrap-icons,htmx,chart.js}
mkdir -p "$out"/bootstrap "$out"/bootstrap-icons/fonts "$out"/htmx "$out"/chart.js
cp "$work"/bootstrap/package/dist/css/bootstrap.min.css "$work"/bootstrap/package/dist/js/bootstrap.bundle.min.js "$work"/bootstrap/package/LICENSE "$out"/bootstrap/
cp "$work"/bootstrap-icons/package/font/bootstrap-icons.min.css "$work"/bootstrap-icons/package/LICENSE "$out"/bootstrap-icons/
cp "$work"/bootstrap-icons/package/font/fonts/bootstrap-icons.woff2 "$work"/bootstrap-icons/package/font/fonts/bootstrap-icons.woff "$out"/bootstrap-icons/fonts/
cp "$work"/htmx.org/package/dist/htmx.min.js "$work"/htmx.org/package/LICENSE "$out"/htmx/
cp "$work"/chart.js/package/dist/chart.umd.min.js "$work"/chart.js/package/LICENSE.md "$out"/chart.js/
# Source maps are not vendored: drop the comments that point at them (collectstatic follows them).
find "$out" -type f \( -name '*.js' -o -name '*.css' \) -exec sed -i -E '/sourceMappingURL=/d' {} +
cat > "$out"/README.md <<MD
# Vendored front-end assets

Copied from the npm registry by \`scripts/vendor-assets.sh\`; each folder keeps its licence.

| package | version | licence |
|---|---|---|
| bootstrap | $BOOTSTRAP | MIT |
| bootstrap-icons | $ICONS | MIT |
| htmx.org | $HTMX | 0BSD |
| chart.js | $CHARTJS | MIT |
MD
echo "vendored into $out"
