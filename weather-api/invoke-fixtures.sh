#!/usr/bin/env bash
# Runs every fixture of weather-api/README.md's table through `cargo lambda invoke`, in the
# table's order, against one fresh `cargo lambda watch`, and checks each statusCode.
# Needs cargo-lambda on PATH (scripts/setup-tools). Port: WEATHER_API_WATCH_PORT (9310).
set -euo pipefail

crate=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$crate/.."
port=${WEATHER_API_WATCH_PORT:-9310}

if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "invoke-fixtures: cargo-lambda not on PATH (run scripts/setup-tools)" >&2
  exit 2
fi

# Build first, so that the first invoke does not wait for a compile.
cargo build --quiet -p weather-api --bin weather-api

# shellcheck source=../scripts/lib/watch.sh
source "$crate/../scripts/lib/watch.sh"
start_watch WEATHER_API_WATCH_PORT "$port"

passed=0
failed=0
while IFS='|' read -r _ file _ status _; do
  file=$(echo "$file" | tr -d ' `')
  status=$(echo "$status" | tr -d ' ')
  out=$(cargo lambda invoke weather-api -A 127.0.0.1 -P "$port" --output-format json \
    --data-file "weather-api/fixtures/$file" 2>&1) || true
  got=$(printf '%s' "$out" | grep -o '"statusCode": *[0-9]*' | grep -o '[0-9]*$' || true)
  if [ "$got" = "$status" ]; then
    echo "ok   $file -> $got"
    passed=$((passed + 1))
  else
    echo "FAIL $file: expected $status, got ${got:-no status}: $out"
    failed=$((failed + 1))
  fi
done < <(grep -E '^\| `[^`]+\.json` \|' "$crate/README.md")

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
