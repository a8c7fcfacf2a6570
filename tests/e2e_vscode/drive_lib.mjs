// What every drive script shares: the browser session on a running code-server and the workbench helpers.
// A scenario script does `import { drive, ... } from './drive_lib.mjs'` and calls
// `drive(async (cfg, result) => { ...steps... })`: it reads the config file named on the command line (written
// by harness.drive), opens the workspace, waits for byok's status bar item, runs the steps, and prints one JSON
// line `RESULT {...}` (exit 1 with `FAILED <message>` after a failure screenshot otherwise).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

export const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const require = createRequire(path.join(cfg.cacheDir, 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');

export const result = { steps: [], notifications: [] };
/** The workbench page (a live binding: set once the browser is up). */
export let page;
let shot = 0;
export const log = (msg) => process.stderr.write(`drive: ${msg}\n`);

export async function screenshot(name) {
  shot += 1;
  const file = path.join(cfg.screenshots, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  result.steps.push({ name, screenshot: file });
  log(`screenshot ${file}`);
}

/** Poll `fn` until it returns something truthy; an error with `fatal` set stops at once. */
export async function until(what, fn, timeoutMs = 20000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      if (err.fatal) throw err;
      last = err;
    }
    await page.waitForTimeout(everyMs);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/** An error `until` does not retry. */
export function fatal(message) {
  return Object.assign(new Error(message), { fatal: true });
}

/** Texts of the visible notification toasts and any modal dialog. */
export async function messages() {
  return page.evaluate(() => {
    const texts = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim()).filter(Boolean);
    return {
      toasts: texts('.notifications-toasts .notification-list-item-message'),
      dialogs: texts('.monaco-dialog-box .dialog-message-text, .monaco-dialog-box .dialog-message-detail'),
    };
  });
}

/** Wait for a notification (toast or dialog) matching `re`; fail fast on one matching `bad`. */
export async function expectMessage(re, bad = /byok: .*(fail|could not|error|not running)/i, timeoutMs = 30000) {
  const found = await until(`a message matching ${re}`, async () => {
    const { toasts, dialogs } = await messages();
    const all = [...toasts, ...dialogs];
    const hit = all.find((t) => re.test(t));
    if (hit) return hit;
    const wrong = all.find((t) => bad.test(t));
    if (wrong) throw fatal(`unexpected message: ${wrong}`);
    return undefined;
  }, timeoutMs).catch(async (err) => {
    // until() swallows errors from fn; re-check for the bad message to report it clearly.
    const { toasts, dialogs } = await messages();
    const wrong = [...toasts, ...dialogs].find((t) => bad.test(t));
    throw new Error(wrong ? `unexpected message: ${wrong}` : err.message);
  });
  result.notifications.push(found);
  await page.waitForTimeout(700); // let the toast finish sliding in before a screenshot
  return found;
}

export async function clearNotifications() {
  await page.keyboard.press('Escape');
  await runCommand('Notifications: Clear All Notifications').catch(() => undefined);
}

export async function runCommand(title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 10000 });
  await page.keyboard.press('Enter');
}

/** Answer the next quick pick / input box: type text (optionally into a password box), press Enter. */
export async function answerQuickInput(text, { password = false } = {}) {
  const sel = password ? '.quick-input-widget input[type="password"]' : '.quick-input-widget .quick-input-box input';
  const input = page.locator(sel);
  await input.waitFor({ state: 'visible' });
  await page.waitForTimeout(200);
  await input.fill(text);
  return input;
}

/** The first editor of the editor area. */
export function editor() {
  return page.locator('.part.editor .editor-container .monaco-editor').first();
}

/** The visible editor text (monaco renders spaces as no-break spaces). */
export async function editorText(ed = editor()) {
  return (await ed.locator('.view-lines').innerText()).replace(/\u00a0/g, ' ');
}

/** Open a workspace file with Quick Open and wait until its text shows (`expect`: a part of it). */
export async function openFile(file, expect) {
  await page.keyboard.press('Control+P');
  await answerQuickInput(path.basename(file));
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: path.basename(file) }).first().waitFor();
  await page.keyboard.press('Enter');
  await editor().locator('.view-lines').waitFor();
  if (expect) await until(`the text of ${file}`, async () => (await editorText()).includes(expect));
  return editor();
}

/** The chat view's webview frame (it has the #input box). */
export async function chatFrame() {
  return until('the chat webview', async () => {
    for (const frame of page.frames()) {
      if (await frame.locator('#input').count().catch(() => 0)) return frame;
    }
    return undefined;
  }, 20000, 250);
}

export async function pickProvider(command, provider) {
  await runCommand(command);
  await answerQuickInput(provider);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: provider }).first().waitFor();
  await page.keyboard.press('Enter');
}

/** BYOK: Set API Key for `provider` through the password box. */
export async function setKeyStep(provider = cfg.provider, key = cfg.key, name = 'set-key') {
  await pickProvider('BYOK: Set API Key', provider);
  await answerQuickInput(key, { password: true });
  await screenshot(`${name}-password-box`);
  await page.keyboard.press('Enter');
  const stored = await expectMessage(/key stored/);
  await screenshot(`${name}-stored`);
  await clearNotifications();
  return stored;
}

/** Launch Chromium on code-server's workspace, wait for byok to be up, run `scenario`, print the result. */
export async function drive(scenario) {
  const browser = await chromium.launch({
    executablePath: cfg.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    page = await context.newPage();
    page.setDefaultTimeout(20000);
    await page.goto(`${cfg.url}/?folder=${encodeURIComponent(cfg.workspace)}`);
    await page.locator('.monaco-workbench').waitFor();
    // the extension is up when its status bar item shows
    await until('the byok status bar item', async () =>
      (await page.locator('.statusbar-item', { hasText: /byok|fake-model/ }).count()) > 0, 60000, 250);
    await page.waitForTimeout(1500);
    await screenshot('workbench');
    await scenario(cfg, result);
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } catch (err) {
    if (page) await screenshot('failure').catch(() => undefined);
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    process.stdout.write(`FAILED ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

/** Wait for byok's proposed change to open in a diff editor with `expect` on its right (proposed) side. */
export async function proposalDiff(expect) {
  const diff = page.locator('.part.editor .monaco-diff-editor').first();
  await diff.waitFor({ state: 'visible', timeout: 30000 });
  await until('the proposed text in the diff', async () =>
    (await diff.locator('.editor.modified .view-lines').innerText()).replace(/\u00a0/g, ' ').includes(expect), 20000);
  return diff;
}

/** Click the diff editor's title action `label` ("Accept Change" / "Reject Change"). */
export async function proposalAction(label) {
  const action = page.locator(`.part.editor .editor-actions .action-label[aria-label^="${label}"]`).first();
  await action.waitFor({ state: 'visible', timeout: 10000 });
  await action.click();
}
