// The portal benchmark (`make bench-portal`, run by `scripts/e2e.sh bench` against a fresh
// server with demo data):
//  1. board render: 200 shifts in one facility's next 7 days, then the board fragment
//     (`GET /portal/f/{fid}/board`, the scheduler's session cookie) fetched sequentially;
//     the server's own time (`Server-Timing: app;dur=`) and the client's round trip.
//  2. claim -> board: headless Chromium shows the live board; a nurse (Amara, made
//     eligible) claims a shift through the API, and the time runs until the shift's badge
//     reads "Booked" in the page; then she releases it until it reads "Open" again.
// Prints a Markdown block and writes it to target/bench/portal.md.
//
// Flags: --shifts N (200) --renders N (300) --warmup N (20) --claims N (100) --out PATH
import { chromium } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  AMARA_PHONE, BASE_URL, MERCY, REPO_ROOT, STAFF, api, facilityOf, localDate, nurseSignIn,
  shiftTerms, staffSession, staffToken,
} from './lib/shiftwire.mjs';

const flags = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const SHIFTS = Number(flags.shifts ?? 200);
const RENDERS = Number(flags.renders ?? 300);
const WARMUP = Number(flags.warmup ?? 20);
const CLAIMS = Number(flags.claims ?? 100);
const OUT = path.resolve(REPO_ROOT, flags.out ?? 'target/bench/portal.md');
const COMMAND = process.env.BENCH_COMMAND ?? 'make bench-portal';
const SERVER = process.env.BENCH_SERVER ?? 'release build';

const now = () => performance.timeOrigin + performance.now();
const log = (...args) => console.error('bench-portal:', ...args);

/** Nearest-rank percentile of `values` (ms). */
function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const ms = (v) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
function row(label, values) {
  if (!values.length) return `| ${label} | 0 | – | – | – |`;
  return `| ${label} | ${values.length} | ${ms(percentile(values, 50))} | ${ms(percentile(values, 99))} | ${ms(Math.max(...values))} |`;
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? os.cpus()[0]?.model ?? 'unknown CPU';
  const memKb = Number(readFileSync('/proc/meminfo', 'utf8').match(/^MemTotal:\s+(\d+)/m)?.[1] ?? 0);
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // os.availableParallelism() stands in
  }
  return `${nproc} CPUs (nproc), ${model}, ${(memKb / 1024 / 1024).toFixed(1)} GiB memory, ${os.type()} ${os.release()}`;
}

// ------------------------------------------------------------------ 1. board render

const token = await staffToken(STAFF.mercy);
const session = await staffSession(STAFF.mercy);
const fid = await facilityOf(session);

log(`posting ${SHIFTS} shifts at Mercy General over the next days`);
const posted = [];
for (let i = 0; i < SHIFTS; i++) {
  // Days 1..5 from today in the facility's zone: all inside the board's 7 days.
  const day = 1 + (i % 5);
  const hour = 5 + (Math.floor(i / 5) % 14);
  const minute = [0, 15, 30, 45][Math.floor(i / 70) % 4];
  const start = `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
  const shift = await api('POST', `/v1/facilities/${fid}/shifts`, {
    token,
    json: shiftTerms({ date: localDate(day), start, hours: 8, unit: `Bench ward ${i % 12}`, rateCents: 6500 + (i % 9) * 250 }),
    expect: 201,
  });
  posted.push({ ...shift, day });
}

const boardUrl = new URL(`/portal/f/${fid}/board`, BASE_URL);
async function renderOnce() {
  const started = performance.now();
  const response = await fetch(boardUrl, { headers: { cookie: session.cookie }, redirect: 'manual' });
  const html = await response.text();
  const roundTrip = performance.now() - started;
  if (response.status !== 200) throw new Error(`GET ${boardUrl.pathname} answered ${response.status}`);
  const server = Number(response.headers.get('server-timing')?.match(/app;dur=([\d.]+)/)?.[1]);
  if (!Number.isFinite(server)) throw new Error('no Server-Timing: app;dur= header on the board fragment');
  return { server, roundTrip, shifts: (html.match(/data-shift="/g) ?? []).length };
}
const first = await renderOnce();
if (first.shifts < SHIFTS) throw new Error(`the board shows ${first.shifts} shifts, fewer than the ${SHIFTS} posted`);
log(`board fragment shows ${first.shifts} shifts; ${WARMUP} warm-up renders, then ${RENDERS} measured`);
for (let i = 0; i < WARMUP; i++) await renderOnce();
const serverTimes = [];
const roundTrips = [];
for (let i = 0; i < RENDERS; i++) {
  const { server, roundTrip } = await renderOnce();
  serverTimes.push(server);
  roundTrips.push(roundTrip);
}

// ------------------------------------------------------------------ 2. claim -> board

const amara = (await nurseSignIn(AMARA_PHONE)).access_token;
const me = await api('PATCH', '/v1/me', {
  token: amara,
  json: { home: { lat: MERCY.lat, lon: MERCY.lon }, max_distance_km: 50, available: true },
});
if (me.verification_status !== 'verified') throw new Error(`Amara is ${me.verification_status}, not verified`);
// A shift two days out: a release within 5 minutes of claiming a shift that starts 8 h or
// more later costs no attendance points, so she can claim and release it all run long.
const target = posted.find((s) => s.day === 2);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
const claimToBoard = [];
const releaseToBoard = [];
const claimRequests = [];
const claimToNotice = [];
const fragmentFetch = [];
const fetchedToBadge = [];
let browserVersion = '';
try {
  browserVersion = browser.version();
  const context = await browser.newContext();
  await context.addCookies([{ name: session.name, value: session.value, url: BASE_URL }]);
  const page = await context.newPage();
  const hello = new Promise((resolve) => {
    page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
      if (String(payload).includes('"hello"')) resolve();
    }));
  });
  await page.goto(new URL(`/portal/f/${fid}`, BASE_URL).href);
  await hello;
  await page.locator('#live-status').filter({ hasText: 'Live: changes appear as they happen.' }).waitFor();
  const selector = `li[data-shift="${target.id}"] [data-status]`;
  await page.locator(selector).filter({ hasText: 'Open' }).waitFor();

  // When the page's socket delivers the scheduler's notice (htmx hands the frame to the
  // page's script, which asks the server for the board again).
  await page.evaluate(() => {
    document.addEventListener('htmx:wsBeforeMessage', (event) => {
      if (window.__notice === null && /"type":"shift\.(booked|released)"/.test(event.detail.message)) {
        window.__notice = performance.timeOrigin + performance.now();
      }
    });
  });
  // Arms a watcher in the page that resolves with the page's clock when the badge reads `want`.
  const arm = (want) => page.evaluate(([sel, wanted]) => {
    window.__notice = null;
    performance.clearResourceTimings(); // (its buffer holds 250 entries)
    window.__seen = new Promise((resolve) => {
      const check = () => {
        const badge = document.querySelector(sel);
        if (badge && badge.textContent.trim() === wanted) {
          observer.disconnect();
          resolve(performance.timeOrigin + performance.now());
        }
      };
      const observer = new MutationObserver(check);
      observer.observe(document.body, { subtree: true, childList: true, characterData: true });
    });
  }, [selector, want]);
  // The badge's time, the notice's, and the board fragment's request (resource timing; its
  // entry may land a moment after the swap).
  const seen = () => page.evaluate(async () => {
    const badge = await window.__seen;
    let entry;
    for (let i = 0; i < 20 && !entry; i++) {
      entry = performance.getEntriesByType('resource').filter((e) => e.name.includes('/board')).at(-1);
      if (!entry) await new Promise((r) => setTimeout(r, 5));
    }
    const fetch = entry && { start: performance.timeOrigin + entry.startTime, end: performance.timeOrigin + entry.responseEnd };
    return { badge, notice: window.__notice, fetch };
  });

  log(`${CLAIMS} claims and releases of one shift, watched in Chromium ${browserVersion}`);
  for (let i = 0; i < CLAIMS; i++) {
    await arm('Booked');
    const claimAt = now();
    const booking = await api('POST', `/v1/shifts/${target.id}/claim`, { token: amara, expect: 201 });
    claimRequests.push(now() - claimAt);
    const booked = await seen();
    claimToBoard.push(booked.badge - claimAt);
    if (booked.notice) claimToNotice.push(booked.notice - claimAt);
    if (booked.notice && booked.fetch) {
      fragmentFetch.push(booked.fetch.end - booked.fetch.start);
      fetchedToBadge.push(booked.badge - booked.fetch.end);
    }

    await arm('Open');
    const releaseAt = now();
    await api('POST', `/v1/bookings/${booking.id}/release`, { token: amara, json: { reason: 'Portal benchmark' } });
    releaseToBoard.push((await seen()).badge - releaseAt);
  }
  await context.close();
} finally {
  await browser.close();
}

// ------------------------------------------------------------------ report

const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const report = `### Portal: board render and claim → board

- Command: \`${COMMAND}\` (scripts/e2e.sh bench: \`shiftwire serve\`, ${SERVER}, \`RUST_LOG=warn\`, fresh \`shiftwire_e2e\` database with \`shiftwire seed\` demo data, loopback)
- Machine: ${machine()}
- Date: ${date}
- Board: Mercy General Hospital's next 7 days with ${first.shifts} shifts (${SHIFTS} posted by the benchmark), \`GET /portal/f/{fid}/board\` with the scheduler's session cookie, sequential, after ${WARMUP} warm-up requests
- Claim → board: Chromium ${browserVersion} (headless, Playwright) showing the live board; Amara claims one shift with \`POST /v1/shifts/{id}/claim\`, timed from just before the request until a MutationObserver in the page sees the badge read "Booked" (same machine clock); then \`POST /v1/bookings/{id}/release\` until it reads "Open". Its parts, from the page's own clock: the scheduler's \`shift.booked\` notice reaching the page's socket (the page asks for the board fragment as it handles it), the fragment's request (resource timing), and htmx swapping the whole board in until the badge reads "Booked"

| measure | n | p50 | p99 | max |
| --- | ---: | ---: | ---: | ---: |
${row('board render, server (`Server-Timing: app`)', serverTimes)}
${row('board render, client round trip', roundTrips)}
${row('claim → "Booked" on the board', claimToBoard)}
${row('release → "Open" on the board', releaseToBoard)}
${row('claim request round trip (201)', claimRequests)}
${row('part: claim → `shift.booked` notice on the page\'s socket', claimToNotice)}
${row('part: board fragment request (resource timing)', fragmentFetch)}
${row('part: fragment received → badge reads "Booked"', fetchedToBadge)}
`;
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, report);
console.log(report);
log(`written to ${path.relative(process.cwd(), OUT)}`);
