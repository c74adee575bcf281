// A scheduler posts shifts from a saved template and watches one fill on the live board,
// then changes its handoff packet and the booked nurse's app hears of it.
import { test, expect } from '@playwright/test';
import path from 'node:path';
import {
  REPO_ROOT, STAFF, NurseSocket, api, localDate, tag, verifiedNurse,
} from '../lib/shiftwire.mjs';
import { fact, liveBoardReady, shiftCard, signIn } from './helpers.js';

test.describe.serial('the live board', () => {
  const run = tag();
  const unit = `ICU ${run}`;
  const templateName = `ICU nights ${run}`;
  let nurse;
  let socket;
  let claimed;
  let booking;

  test.beforeAll(async () => {
    nurse = await verifiedNurse('Nadia Okonkwo');
    // Her app is open: shifts she may work are offered to her as they are posted.
    socket = await NurseSocket.open(nurse.token);
  });

  test.afterAll(() => socket?.close());

  test('shifts posted from a template fill live: booked, then handoff acknowledged', async ({ page }) => {
    await signIn(page, STAFF.mercy);
    await expect(page).toHaveURL(/\/portal\/f\/[0-9a-f-]{36}$/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Mercy General Hospital');
    const cards = page.locator('li[data-shift]', { hasText: unit });

    // The first posting saves its terms as a template.
    await page.getByRole('link', { name: 'Post shifts' }).click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Post shifts');
    await page.getByLabel('Date 1').fill(localDate(1));
    await page.getByLabel('Role', { exact: true }).selectOption('RN');
    await page.getByLabel('Starts at').fill('19:00');
    await page.getByLabel('Ends at').fill('07:00');
    await page.getByLabel('Hourly rate (US dollars)').fill('72.50');
    await page.getByLabel('Unit', { exact: true }).fill(unit);
    await page.getByLabel('Report to').fill('Charge nurse, ICU (ext. 4410)');
    await page.getByLabel('Arrival instructions').fill('Staff entrance on J Street; security issues your badge.');
    await page.getByLabel('Parking (optional)').fill('Staff garage, level 2; validate at security');
    await page.getByLabel('Unit notes (optional)').fill('Epic access is set up for agency staff on arrival.');
    await page.getByLabel('Exceptions (optional, one per line)').fill('No floating to other units\nBring your own stethoscope');
    await page.getByLabel('Save as a template (optional)').fill(templateName);
    await page.getByRole('button', { name: 'Post shifts' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Posted' })).toHaveText('Posted 1 shift.');
    await expect(cards).toHaveCount(1);

    // Then three more dates from that template: the form comes back filled in.
    await page.getByRole('link', { name: 'Post shifts' }).click();
    await page.getByLabel('Start from a template').selectOption({ label: templateName });
    await page.getByRole('button', { name: 'Use this template' }).click();
    await expect(page.getByLabel('Unit', { exact: true })).toHaveValue(unit);
    await expect(page.getByLabel('Starts at')).toHaveValue('19:00');
    await expect(page.getByLabel('Ends at')).toHaveValue('07:00');
    await expect(page.getByLabel('Hourly rate (US dollars)')).toHaveValue('72.50');
    await expect(page.getByLabel('Report to')).toHaveValue('Charge nurse, ICU (ext. 4410)');
    await expect(page.getByLabel('Exceptions (optional, one per line)')).toHaveValue('No floating to other units\nBring your own stethoscope');
    await expect(page.getByLabel('Date 1')).toHaveValue('');
    for (const [i, offset] of [[1, 2], [2, 3], [3, 4]]) {
      await page.getByLabel(`Date ${i}`).fill(localDate(offset));
    }
    const live = liveBoardReady(page);
    await page.getByRole('button', { name: 'Post shifts' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Posted' })).toHaveText('Posted 3 shifts.');
    await expect(cards).toHaveCount(4);
    const fromTemplate = await cards.evaluateAll((els) => els.slice(1).map((el) => el.dataset.shift));
    for (const id of fromTemplate) {
      const { card, status, detail } = shiftCard(page, id);
      await expect(card).toContainText('19:00–07:00 RN');
      await expect(card).toContainText('$72.50/h');
      await expect(status).toHaveText('Open');
      await expect(detail).toHaveText(/^Offered to \d+ nurses?$/);
      const offer = await socket.next((f) => f.type === 'shift.offered' && f.shift?.id === id);
      expect(offer.shift.unit).toBe(unit);
      expect(offer.shift.hourly_rate_cents).toBe(7250);
    }

    // The board is live: what happens elsewhere appears without a reload.
    await expect(page.locator('#live-status')).toHaveText('Live: changes appear as they happen.');
    await live;
    await page.evaluate(() => { window.__marker = 'the same page'; });
    let navigations = 0;
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations += 1; });

    [claimed] = fromTemplate;
    const { status, detail } = shiftCard(page, claimed);
    booking = await api('POST', `/v1/shifts/${claimed}/claim`, { token: nurse.token, expect: 201 });
    await expect(status).toHaveText('Booked');
    await expect(detail).toHaveText(`${nurse.name} · handoff not yet acknowledged`);

    await api('POST', `/v1/bookings/${booking.id}/handoff/ack`, { token: nurse.token });
    await expect(detail).toHaveText(`${nurse.name} · handoff acknowledged`);
    await expect(status).toHaveText('Booked');
    // The other shifts of the posting are untouched.
    await expect(shiftCard(page, fromTemplate[1]).status).toHaveText('Open');

    expect(await page.evaluate(() => window.__marker)).toBe('the same page');
    expect(navigations).toBe(0);
    await page.setViewportSize({ width: 1280, height: 1500 });
    await page.screenshot({ path: path.join(REPO_ROOT, 'docs/portal-board.png') });
  });

  test('an edited handoff packet reaches the booked nurse and asks her to acknowledge it again', async ({ page }) => {
    await signIn(page, STAFF.mercy);
    await page.goto(`/portal/shifts/${claimed}`);
    await expect(page.getByRole('heading', { level: 1 })).toContainText(`RN · ${unit}`);
    await expect(fact(page, 'Status')).toHaveText('Booked');
    await expect(fact(page, 'Nurse')).toHaveText(nurse.name);
    await expect(fact(page, 'Handoff')).toHaveText('Version 1, acknowledged by the nurse');

    const framesBefore = socket.frames.length;
    const reportTo = 'Charge nurse, ICU (ext. 4412): Dana Whitaker';
    await page.getByLabel('Report to').fill(reportTo);
    await page.getByLabel('Parking (optional)').fill('Visitor garage on 40th Street tonight; the staff garage is closed');
    await page.getByRole('button', { name: 'Save handoff packet' }).click();
    await expect(page.getByRole('status')).toContainText('Handoff packet saved');
    await expect(fact(page, 'Handoff')).toHaveText('Version 2, not yet acknowledged by the nurse');
    await expect(page.getByLabel('Report to')).toHaveValue(reportTo);

    const frame = await socket.next((f) => f.type === 'booking.updated' && f.booking?.id === booking.id, { after: framesBefore });
    expect(frame.booking.handoff.report_to).toBe(reportTo);
    expect(frame.booking.handoff_version).toBe(2);
    expect(frame.booking.handoff_acknowledged).toBe(false);
  });
});
