// The SMS gateway of the browser tests: `shiftwire serve` runs with SMS_PROVIDER=webhook and
// SMS_WEBHOOK_URL pointing here, so the tests read a nurse's sign-in code the way her phone
// would get it, without parsing the server's log.
//
//   POST /sms             {"to": "+1...", "body": "..."}  (what WebhookSms sends) -> 204
//   GET  /codes/<E.164>   -> 200 {"code": "123456", "seq": 3} (the latest code sent to that
//                            phone, and how many were sent to it), 404 if none yet
//
// Usage: node sms-capture.mjs [PORT] (default 18191); listens on 127.0.0.1 only.
import http from 'node:http';

const port = Number(process.argv[2] ?? process.env.SMS_CAPTURE_PORT ?? 18191);
/** phone -> { code, seq } */
const latest = new Map();
const MAX_BODY = 64 * 1024;

function reply(res, status, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/sms') {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      let message;
      try {
        message = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(res, 400, { error: 'not JSON' });
      }
      // CONTRACT.md: the code is the only 6-digit number in the body.
      const code = typeof message?.body === 'string' ? message.body.match(/\b\d{6}\b/)?.[0] : undefined;
      if (typeof message?.to !== 'string' || !code) {
        return reply(res, 422, { error: 'expected {to, body} with a 6-digit code' });
      }
      const seq = (latest.get(message.to)?.seq ?? 0) + 1;
      latest.set(message.to, { code, seq });
      reply(res, 204);
    });
    return;
  }
  const match = req.method === 'GET' && req.url?.match(/^\/codes\/([^/?#]+)$/);
  if (match) {
    const phone = decodeURIComponent(match[1]);
    const found = latest.get(phone);
    return found ? reply(res, 200, found) : reply(res, 404, { error: 'no code sent to that phone yet' });
  }
  if (req.method === 'GET' && req.url === '/healthz') {
    return reply(res, 200, { ok: true });
  }
  reply(res, 404, { error: 'not found' });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`sms-capture: listening on http://127.0.0.1:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
