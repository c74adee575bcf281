// An admin suspends a nurse who holds a booking; the facility's scheduler, watching the
// board in another browser, sees the shift open again without reloading.
import { test, expect } from '@playwright/test';
import {
  STAFF, api, localDate, shiftTerms, staffToken, tag, verifiedNurse,
} from '../lib/shiftwire.mjs';
import { fact, liveBoardReady, shiftCard, signedInContext } from './helpers.js';

test('suspending a booked nurse releases her shift on the scheduler\'s live board', async ({ browser }) => {
  const nurse = await verifiedNurse('Tomasz Wójcik');
  const unit = `Step-down ${tag()}`;

  const scheduler = await signedInContext(browser, STAFF.mercy);
  const admin = await signedInContext(browser, STAFF.admin);
  try {
    const board = scheduler.page;
    const fid = board.url().match(/\/portal\/f\/([0-9a-f-]{36})$/)?.[1];
    expect(fid, `the scheduler landed on ${board.url()}`).toBeTruthy();
    const token = await staffToken(STAFF.mercy);
    const shift = await api('POST', `/v1/facilities/${fid}/shifts`, {
      token, json: shiftTerms({ date: localDate(2), start: '07:00', unit }), expect: 201,
    });
    await api('POST', `/v1/shifts/${shift.id}/claim`, { token: nurse.token, expect: 201 });

    const live = liveBoardReady(board);
    await board.reload();
    await live;
    const { status, detail } = shiftCard(board, shift.id);
    await expect(status).toHaveText('Booked');
    await expect(detail).toHaveText(`${nurse.name} · handoff not yet acknowledged`);
    await board.evaluate(() => { window.__marker = 'the same page'; });

    const adminPage = admin.page;
    await adminPage.goto(`/console/nurses/${nurse.id}`);
    await expect(adminPage.getByRole('heading', { level: 1 })).toHaveText(nurse.name);
    await expect(fact(adminPage, 'Account')).toHaveText('Active');
    const bookingRow = adminPage.getByRole('row').filter({ hasText: 'Mercy General Hospital' });
    await expect(bookingRow).toHaveCount(1);
    await expect(bookingRow).toContainText('booked');
    const reason = 'Licence under investigation by the board (case 2026-118)';
    await adminPage.getByLabel('Reason for suspending').fill(reason);
    await adminPage.getByRole('button', { name: 'Suspend' }).click();
    await expect(adminPage.getByRole('status')).toHaveText('Suspended. Her sessions ended and her future bookings were released.');
    await expect(fact(adminPage, 'Account')).toContainText('Suspended since');
    await expect(fact(adminPage, 'Account')).toContainText(reason);
    await expect(bookingRow).toContainText('cancelled');
    await expect(adminPage.getByRole('button', { name: 'Reinstate' })).toBeVisible();

    // The scheduler's board, untouched by hand, shows the shift open again.
    await expect(status).toHaveText('Open');
    await expect(detail).toContainText('released 1 time');
    expect(await board.evaluate(() => window.__marker)).toBe('the same page');

    // And the nurse's own token no longer works.
    const refused = await api('GET', '/v1/me', { token: nurse.token, expect: 403 });
    expect(refused.code).toBe('account_suspended');
  } finally {
    await scheduler.context.close();
    await admin.context.close();
  }
});
