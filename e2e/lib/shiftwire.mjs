// What the browser tests and the portal benchmark share: the server's address, the demo
// accounts of `shiftwire seed`, an API client (bearer tokens), staff sessions (the portal's
// cookie, signed in through the form as a browser would), nurses signed in by SMS code
// through the capture server (sms-capture.mjs), and a nurse's WebSocket client.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import WebSocket from 'ws';

export const BASE_URL = process.env.E2E_BASE_URL ?? 'http://127.0.0.1:18190';
export const SMS_URL = process.env.E2E_SMS_URL ?? 'http://127.0.0.1:18191';
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `shiftwire seed`'s accounts (crates/cli/src/seed.rs). */
export const PASSWORD = 'shiftwire-demo-2026';
export const STAFF = {
  admin: 'admin@shiftwire.example',
  verifier: 'verifier@shiftwire.example',
  mercy: 'scheduler@mercy-general.example',
  bayview: 'scheduler@bayview-care.example',
};
export const AMARA_PHONE = '+14155550101';
/** Mercy General Hospital, Sacramento (seed.rs): where test nurses are made to live. */
export const MERCY = { lat: 38.5703, lon: -121.4466, timezone: 'America/Los_Angeles' };

/** The demo images that `shiftwire seed` uploads (marked as demo data). */
export const DEMO_IMAGES = {
  selfie: () => readFileSync(path.join(REPO_ROOT, 'crates/cli/demo/selfie.png')),
  photoId: () => readFileSync(path.join(REPO_ROOT, 'crates/cli/demo/id-amara-okafor.png')),
};

// ------------------------------------------------------------------ time

/** `YYYY-MM-DD` of today + `offsetDays` in time zone `tz`. */
export function localDate(offsetDays = 0, tz = MERCY.timezone) {
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: tz }).format(new Date());
  const [y, m, d] = today.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + offsetDays)).toISOString().slice(0, 10);
}

/** The instant at which the wall clock of `tz` reads `date` `time` (`HH:MM`), as a Date. */
export function zonedTime(date, time, tz = MERCY.timezone) {
  const [y, m, d] = date.split('-').map(Number);
  const [hh, mm] = time.split(':').map(Number);
  const wanted = Date.UTC(y, m - 1, d, hh, mm);
  const wallOf = (instant) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit',
      }).formatToParts(new Date(instant)).map((p) => [p.type, p.value]),
    );
    return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute);
  };
  let guess = wanted;
  for (let i = 0; i < 2; i++) guess -= wallOf(guess) - wanted; // twice: across a DST change
  return new Date(guess);
}

/** A short random tag that keeps one run's data apart from another's in the same database. */
export function tag() {
  return Math.random().toString(36).slice(2, 8);
}

/** A valid US number that no seeded nurse has (seed.rs uses 555-0101..0104). */
export function randomPhone() {
  const areas = ['415', '916', '510', '650', '707', '209', '530', '925'];
  const area = areas[Math.floor(Math.random() * areas.length)];
  return `+1${area}555${2000 + Math.floor(Math.random() * 8000)}`;
}

/** Polls `probe` (every 50 ms, until `timeoutMs`) until it returns something truthy. */
export async function until(probe, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ------------------------------------------------------------------ the API

export class ApiError extends Error {
  constructor(method, url, status, body) {
    super(`${method} ${url} answered ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

/**
 * One API request. `json` or `multipart` (a FormData) is the body; `token` a bearer token.
 * Returns the parsed body; throws ApiError unless the status is `expect` (default: any 2xx).
 */
export async function api(method, url, { token, json, multipart, expect, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, redirect: 'manual' };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (multipart) {
    init.body = multipart;
  } else if (method === 'POST') {
    init.headers['content-type'] = 'application/json';
    init.body = '{}';
  }
  const response = await fetch(new URL(url, BASE_URL), init);
  const text = await response.text();
  let body = text;
  if ((response.headers.get('content-type') ?? '').includes('json') && text) body = JSON.parse(text);
  const ok = expect === undefined ? response.ok : response.status === expect;
  if (!ok) throw new ApiError(method, url, response.status, body);
  return body;
}

/** A staff member's access token (`POST /v1/auth/login`). */
export async function staffToken(email) {
  const pair = await api('POST', '/v1/auth/login', { json: { email, password: PASSWORD } });
  return pair.access_token;
}

/**
 * A staff member's portal session, signed in through the form as a browser would:
 * `{ cookie: "shiftwire_session=...", name, value }`.
 */
export async function staffSession(email) {
  const response = await fetch(new URL('/sign-in', BASE_URL), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email, password: PASSWORD, next: '' }),
  });
  if (response.status !== 303) throw new Error(`signing in ${email}: ${response.status}`);
  const set = response.headers.getSetCookie().find((c) => c.startsWith('shiftwire_session='));
  if (!set) throw new Error(`signing in ${email}: no shiftwire_session cookie`);
  const pair = set.split(';')[0];
  const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
  return { cookie: pair, name, value };
}

/** The facility of a scheduler with one facility: where `/portal` sends them. */
export async function facilityOf(session) {
  const response = await fetch(new URL('/portal', BASE_URL), {
    redirect: 'manual',
    headers: { cookie: session.cookie },
  });
  const location = response.headers.get('location') ?? '';
  const fid = location.match(/^\/portal\/f\/([0-9a-f-]{36})$/)?.[1];
  if (!fid) throw new Error(`GET /portal answered ${response.status} to ${location}, not one facility's board`);
  return fid;
}

/** The terms of a shift at Mercy for `POST /v1/facilities/{fid}/shifts`. */
export function shiftTerms({ date, start = '07:00', hours = 12, unit, role = 'RN', rateCents = 7000 }) {
  const startsAt = zonedTime(date, start);
  return {
    role,
    starts_at: startsAt.toISOString(),
    ends_at: new Date(startsAt.getTime() + hours * 3_600_000).toISOString(),
    hourly_rate_cents: rateCents,
    required_certifications: [],
    unit,
    handoff: {
      report_to: `Charge nurse, ${unit}`,
      arrival_instructions: 'Staff entrance on J Street; security issues your badge.',
    },
  };
}

// ------------------------------------------------------------------ nurses

/** Signs a nurse in by SMS code (a new phone becomes a new, unverified nurse): tokens. */
export async function nurseSignIn(phone) {
  const codeUrl = new URL(`/codes/${encodeURIComponent(phone)}`, SMS_URL);
  const seen = async () => {
    const response = await fetch(codeUrl);
    return response.status === 404 ? { seq: 0 } : response.json();
  };
  const before = (await seen()).seq;
  await api('POST', '/v1/auth/otp', { json: { phone }, expect: 202 });
  const { code } = await until(async () => {
    const now = await seen();
    return now.seq > before ? now : null;
  }, `the SMS code to ${phone}`);
  return api('POST', '/v1/auth/otp/verify', { json: { phone, code } });
}

/**
 * A new nurse, signed in, named, living at Mercy General (so its shifts are within her
 * reach) and available: `{ id, phone, name, token }`.
 */
export async function newNurse(name, { home = MERCY, maxDistanceKm = 50 } = {}) {
  const phone = randomPhone();
  const { access_token: token } = await nurseSignIn(phone);
  const me = await api('PATCH', '/v1/me', {
    token,
    json: { name, home: { lat: home.lat, lon: home.lon }, max_distance_km: maxDistanceKm, available: true },
  });
  return { id: me.id, phone, name, token };
}

/** `POST /v1/me/identity`: the legal name, a photo ID and a selfie (PNG bytes). */
export async function submitIdentity(nurse, { legalName, photoId, selfie }) {
  const form = new FormData();
  form.set('legal_name', legalName);
  form.set('date_of_birth', '1989-06-14');
  form.set('id_document', new Blob([photoId], { type: 'image/png' }), 'photo-id.png');
  form.set('selfie', new Blob([selfie], { type: 'image/png' }), 'selfie.png');
  return api('POST', '/v1/me/identity', { token: nurse.token, multipart: form, expect: 201 });
}

/** An RN licence number that no row of registry/demo-licenses.csv has. */
export function randomLicenceNumber() {
  return `RN-7${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
}

/**
 * `POST /v1/me/credentials` for an RN licence in California with a number no registry row
 * has (so the automatic check hands it to a person: `not_found`), then its card (PNG).
 */
export async function submitLicence(nurse, { card, number = randomLicenceNumber() } = {}) {
  const credential = await api('POST', '/v1/me/credentials', {
    token: nurse.token,
    json: { kind: 'RN', number, issuing_state: 'CA', expires_on: '2029-06-30' },
    expect: 201,
  });
  if (card) {
    const form = new FormData();
    form.set('file', new Blob([card], { type: 'image/png' }), 'licence-card.png');
    await api('POST', `/v1/me/credentials/${credential.id}/document`, {
      token: nurse.token, multipart: form, expect: 201,
    });
  }
  return credential;
}

/**
 * A verified nurse, made through the API as a verifier would decide: identity approved,
 * then her licence (which the registry does not know) approved by hand.
 */
export async function verifiedNurse(name, options) {
  const nurse = await newNurse(name, options);
  const identity = await submitIdentity(nurse, {
    legalName: name, photoId: DEMO_IMAGES.photoId(), selfie: DEMO_IMAGES.selfie(),
  });
  const licence = await submitLicence(nurse);
  const verifier = await staffToken(STAFF.verifier);
  await api('POST', `/v1/admin/identities/${identity.id}/approve`, { token: verifier });
  await api('POST', `/v1/admin/credentials/${licence.id}/approve`, { token: verifier });
  const me = await api('GET', '/v1/me', { token: nurse.token });
  if (me.verification_status !== 'verified') {
    throw new Error(`${name} is ${me.verification_status} after approval, not verified`);
  }
  return nurse;
}

/** A nurse's WebSocket (`GET /v1/ws`, bearer token), opened once its `hello` arrived. */
export class NurseSocket {
  static async open(token) {
    const socket = new NurseSocket(token);
    await socket.next((f) => f.type === 'hello');
    return socket;
  }

  constructor(token) {
    this.frames = [];
    this.waiters = [];
    const url = new URL('/v1/ws', BASE_URL);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    this.ws.on('message', (data) => {
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return;
      }
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => !(w.match(frame) && (w.resolve(frame), true)));
    });
    this.ws.on('close', (code) => {
      for (const w of this.waiters) w.reject(new Error(`socket closed (${code}) while waiting`));
      this.waiters = [];
    });
    this.ws.on('error', (error) => {
      for (const w of this.waiters) w.reject(error);
      this.waiters = [];
    });
  }

  /**
   * The first frame that `match` accepts, among those received from index `after` on (0:
   * every frame so far) and those still to come.
   */
  next(match, { timeoutMs = 10_000, after = 0 } = {}) {
    const seen = this.frames.slice(after).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${this.frames.map((f) => f.type).join(', ')}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (f) => { clearTimeout(timer); resolve(f); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }

  close() {
    this.ws.close();
  }
}
