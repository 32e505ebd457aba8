// One client process of the npm `redis-semaphore` side: acquire and release in a loop
// from startAt for durationMs, then print {ops, latencies (µs)} as JSON.
'use strict';
const Redis = require('ioredis');
const { Semaphore } = require('redis-semaphore');

async function main() {
  const [url, name, limit, durationMs, startAt] = process.argv.slice(2);
  const client = new Redis(url);
  const options = { lockTimeout: 10000, acquireTimeout: 120000, retryInterval: 10 };
  const once = async () => {
    const semaphore = new Semaphore(client, name, Number(limit), options);
    await semaphore.acquire();
    await semaphore.release();
  };
  await once(); // warm up: connection and script cache
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
  const end = Number(startAt) + Number(durationMs);
  const latencies = [];
  while (Date.now() < end) {
    const t = process.hrtime.bigint();
    await once();
    latencies.push(Number((process.hrtime.bigint() - t) / 1000n));
  }
  process.stdout.write(JSON.stringify({ ops: latencies.length, latencies }) + '\n');
  client.disconnect();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
