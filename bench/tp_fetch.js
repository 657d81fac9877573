// Throughput client: N GET /security/token calls, K in flight, with Node's
// fetch: a pool of K async workers (Promise.all) taking calls from a shared
// count; undici's default agent keeps the connections alive. The same
// request as plexauth's.
// usage: node bench/tp_fetch.js BASE_URL N K
// Prints "RESULT calls= wall_s= cpu_s=" (as bench/tp_plexauth.lua; CPU from
// process.cpuUsage, user+sys of every thread).
'use strict';
const [base, n, k] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const url = `${base}/security/token?type=delegation&scope=all`;
const headers = { 'X-Plex-Token': 'bench-token', 'X-Plex-Client-Identifier': 'bench', Accept: 'application/json' };
if (process.env.BENCH_UA) headers['User-Agent'] = process.env.BENCH_UA;
let left = n;
let finished = 0;

async function worker() {
  while (left > 0) {
    left--;
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    const tok = (await res.json()).MediaContainer.token;
    if (tok !== 'transient-bench-token') throw new Error(`bad token: ${tok}`);
    finished++;
  }
}

(async () => {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: k }, worker));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  if (finished !== n) throw new Error(`${finished} of ${n} calls finished`);
  console.log(`RESULT calls=${n} wall_s=${wall.toFixed(6)} cpu_s=${((c.user + c.system) / 1e6).toFixed(6)}`);
})().catch((e) => { console.error(e); process.exit(1); });
