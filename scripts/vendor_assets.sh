#!/usr/bin/env bash
# Copies the pinned npm packages (package.json / package-lock.json) into the Python package so the
# app never loads anything from a CDN. Run after changing a version; the copies are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --ignore-scripts --no-audit --no-fund
dest=crm/static/vendor
rm -rf "$dest" && mkdir -p "$dest"/bootstrap "$dest"/htmx "$dest"/chartjs
cp node_modules/bootstrap/dist/css/bootstrap.min.css "$dest"/bootstrap/
cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js "$dest"/bootstrap/
cp node_modules/bootstrap/LICENSE "$dest"/bootstrap/LICENSE
cp node_modules/htmx.org/dist/htmx.min.js "$dest"/htmx/
cp node_modules/htmx.org/LICENSE "$dest"/htmx/LICENSE
cp node_modules/chart.js/dist/chart.umd.min.js "$dest"/chartjs/ 2>/dev/null || cp node_modules/chart.js/dist/chart.umd.js "$dest"/chartjs/chart.umd.min.js
cp node_modules/chart.js/LICENSE.md "$dest"/chartjs/LICENSE.md
mkdir -p tests/browser/vendor
cp node_modules/axe-core/axe.min.js tests/browser/vendor/axe.min.js
cp node_modules/axe-core/LICENSE tests/browser/vendor/axe-core.LICENSE
# vnu-jar is a test tool, not an asset: it stays in node_modules and out of VERSIONS.json.
node -e 'const p=require("./package.json").devDependencies;delete p["vnu-jar"];console.log(JSON.stringify(p,null,2))' > "$dest"/VERSIONS.json
echo "vendored: $(tr -d '\n' < "$dest"/VERSIONS.json)"
