#!/usr/bin/env bash
# The Redis benchmark: prio-semaphore-redis beside the npm redis-semaphore package, both
# against one private redis-server in the same run. Writes redis/docs/benchmarks.md.
# Needs redis-server, Node.js 20+ and npm (it runs `npm ci` here, never in CI tests).
set -euo pipefail
cd "$(dirname "$0")"
bench_dir=$(pwd)
repo=$(cd ../.. && pwd)

command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install redis-server" >&2; exit 1; }
command -v node >/dev/null || { echo "Node.js is missing" >&2; exit 1; }

npm ci --no-audit --no-fund --silent
(cd "$repo" && cargo build --release -q -p prio-semaphore-redis --example bench_client)
target_dir=$(cd "$repo" && cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
client="$target_dir/release/examples/bench_client"

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
data=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$data" >/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done

node "$bench_dir/run.js" "redis://127.0.0.1:$port/" "$client" "$repo/redis/docs/benchmarks.md"

# The example on the same server: order of grants, peak concurrency, recovery after kill -9.
(cd "$repo" && cargo build --release -q -p prio-semaphore-redis --example workers)
{
  echo '## The `workers` example on the same server'
  echo
  echo '4 worker processes share 3 permits (lease 2 s); realtime jobs at priority 0, batch at 10;'
  echo 'worker 0 is killed with `kill -9` while it holds a permit.'
  echo
  echo '```text'
  REDIS_URL="redis://127.0.0.1:$port/" "$target_dir/release/examples/workers" | sed -n '/^mean wait/,$p'
  echo '```'
} >> "$repo/redis/docs/benchmarks.md"
tail -8 "$repo/redis/docs/benchmarks.md"
