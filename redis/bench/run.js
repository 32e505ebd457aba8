// Runs both semaphores against one redis-server in interleaved rounds and writes the
// report. Called by run.sh with: <url> <rust client binary> <output markdown>.
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [url, rustClient, output] = process.argv.slice(2);
const LIMIT = 4;
// PROCESSES=1,4 runs a subset (for quick checks; the report then lists only those).
const PROCESSES = (process.env.PROCESSES || '1,4,16').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS || 4); // even: each side goes first equally often
const SETTLE_MS = 1500; // lets the machine settle after the previous cell's processes exit
const DURATION_MS = Number(process.env.DURATION_MS || 4000);

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}`))));
  });
}

const clients = {
  'prio-semaphore-redis': (name, ms, at) => [rustClient, [url, name, LIMIT, ms, at]],
  'npm redis-semaphore': (name, ms, at) => [process.execPath, [path.join(__dirname, 'npm_client.js'), url, name, LIMIT, ms, at]],
};

async function measure(kind, processes, round) {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const name = `bench-${kind === 'npm redis-semaphore' ? 'npm' : 'rust'}-${processes}`;
  const startAt = Date.now() + 1500 + processes * 50; // time to start and warm up
  const outputs = await Promise.all(
    Array.from({ length: processes }, () => run(...clients[kind](name, DURATION_MS, startAt))),
  );
  const results = outputs.map((o) => {
    try {
      return JSON.parse(o.trim().split('\n').pop());
    } catch (e) {
      throw new Error(`${kind}, ${processes} processes: a client printed ${JSON.stringify(o.slice(0, 200))}`);
    }
  });
  const ops = results.reduce((s, r) => s + r.ops, 0);
  const latencies = results.flatMap((r) => r.latencies);
  const throughput = ops / (DURATION_MS / 1000);
  console.log(`round ${round} ${kind} ${processes} processes: ${throughput.toFixed(0)} acquire+release/s`);
  return { throughput, latencies };
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  // Create the Rust side's semaphores once (on a just-started server a new one waits
  // until one lease after the server's start).
  await Promise.all(PROCESSES.map((p) => run(rustClient, [url, `bench-rust-${p}`, LIMIT, 0, 0])));
  const results = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const processes of PROCESSES) {
      // Interleaved, and the order flips every round, so drift hits both sides alike.
      const kinds = Object.keys(clients);
      if (round % 2 === 0) kinds.reverse();
      for (const kind of kinds) {
        const key = `${kind}|${processes}`;
        results[key] = results[key] || { throughputs: [], latencies: [] };
        const r = await measure(kind, processes, round);
        results[key].throughputs.push(r.throughput);
        for (const latency of r.latencies) results[key].latencies.push(latency); // too many for a spread
      }
    }
  }
  const redisVersion = execFileSync('redis-server', ['--version']).toString().trim();
  const lines = [];
  lines.push('# prio-semaphore-redis benchmark');
  lines.push('');
  lines.push('Written by `redis/bench/run.sh`. Acquire-and-release loops against one local');
  lines.push(`\`redis-server\` (${redisVersion.split(' ').slice(0, 3).join(' ')}), semaphore limit ${LIMIT},`);
  lines.push(`${ROUNDS} interleaved rounds of ${DURATION_MS / 1000} s per cell (the order of the two`);
  lines.push(`sides flips every round, and each run starts after a ${SETTLE_MS / 1000} s pause: on this shared VM the`);
  lines.push('first run after a cell of 16 processes was otherwise slow, whichever side it was);');
  lines.push('throughput is the median over rounds, latency percentiles');
  lines.push('are over every acquire+release pair of all rounds. Each client process runs one');
  lines.push('acquire-then-release loop: with 1 and 4 processes nobody ever waits (limit 4),');
  lines.push('with 16 processes 12 wait at any time.');
  lines.push('');
  lines.push(`Machine: ${os.cpus().length} CPUs (${os.cpus()[0].model}), Node.js ${process.version},`);
  lines.push(`date ${new Date().toISOString().slice(0, 10)}. npm side: redis-semaphore 5.8.0 on ioredis,`);
  lines.push('default `retryInterval` of 10 ms (it polls while waiting); Rust side: release build,');
  lines.push('tokio current-thread runtime per process.');
  lines.push('');
  lines.push('| processes | prio-semaphore-redis ops/s | npm redis-semaphore ops/s | ratio | p50 / p99 latency, ours | p50 / p99 latency, npm |');
  lines.push('|---:|---:|---:|---:|---:|---:|');
  for (const processes of PROCESSES) {
    const ours = results[`prio-semaphore-redis|${processes}`];
    const theirs = results[`npm redis-semaphore|${processes}`];
    const ratios = ours.throughputs.map((t, i) => t / theirs.throughputs[i]);
    const lat = (r) => {
      const s = r.latencies.sort((a, b) => a - b);
      return `${(quantile(s, 0.5) / 1000).toFixed(2)} / ${(quantile(s, 0.99) / 1000).toFixed(2)} ms`;
    };
    lines.push(
      `| ${processes} | ${median(ours.throughputs).toFixed(0)} | ${median(theirs.throughputs).toFixed(0)} | ` +
        `${median(ratios).toFixed(2)}× | ${lat(ours)} | ${lat(theirs)} |`,
    );
  }
  lines.push('');
  lines.push('Ratio: the median over rounds of (ours / npm) measured in the same round. On a busy');
  lines.push('shared VM single runs vary a lot, which is why the rounds are paired and interleaved;');
  lines.push('every round (ours / npm, acquire+release per second):');
  lines.push('');
  lines.push('| processes | ' + Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}`).join(' | ') + ' |');
  lines.push('|---:|' + '---:|'.repeat(ROUNDS));
  for (const processes of PROCESSES) {
    const ours = results[`prio-semaphore-redis|${processes}`].throughputs;
    const theirs = results[`npm redis-semaphore|${processes}`].throughputs;
    const cells = ours.map((t, i) => `${t.toFixed(0)} / ${theirs[i].toFixed(0)}`);
    lines.push(`| ${processes} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  lines.push('Round trips: an uncontended acquire is one `EVALSHA`, and so is a release; the test');
  lines.push('`uncontended_acquire_and_release_are_one_round_trip_each` (redis/tests/failures.rs)');
  lines.push('counts the commands the server receives with `MONITOR`. The npm package also needs one');
  lines.push('call each way when uncontended; contended, it retries every 10 ms, while a waiter here');
  lines.push('is granted inside the releasing script and told by pub/sub.');
  lines.push('');
  lines.push('Reading the table. Uncontended, both sides pay two round trips per acquire+release;');
  lines.push('the difference is work inside Redis and in the client. An uncontended acquire here runs');
  lines.push('5 commands in its script (`TIME`, one `HMGET` of the config, `EXISTS` of the line, one');
  lines.push('`ZADD` of the lease with its expiry, one `HSET` of permits in use, fencing token and');
  lines.push('arrival counter) and a release 3 (`ZRANGE` of the line\'s front, `ZREM` of the lease,');
  lines.push('`HINCRBY` of permits in use: no clock, nothing else when nobody waits); the npm package');
  lines.push('runs 4 commands in its acquire script and a plain `ZREM` to release (no fencing token,');
  lines.push('no order, client clock). Contended, the npm waiters poll every 10 ms and whoever polls at');
  lines.push('the right moment wins (the p99 shows the losers; a holder that releases and acquires');
  lines.push("again before the pollers wake keeps its permit, so the npm side's throughput with 16");
  lines.push('processes swings a lot between runs), while here each release hands its permit to the');
  lines.push('first in line inside the same script (10 commands) and tells its process by pub/sub, a');
  lines.push('RESP3 push on that process\'s own connection read by its runtime; a waiter joins the');
  lines.push('line in one script of 8 commands: a much shorter tail, in strict (priority, arrival)');
  lines.push('order. That order has a price in throughput: every acquire+release with 16 processes is');
  lines.push('a hand-off to another process (its script, the push, that process woken), while the npm');
  lines.push("side's releasing process often takes its own permit back at once, which needs no");
  lines.push('hand-off at all; on an idle machine, where the pollers sleep longest, that barging is');
  lines.push("the npm side's best case.");
  lines.push('');
  fs.writeFileSync(output, lines.join('\n') + '\n');
  console.log(lines.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
