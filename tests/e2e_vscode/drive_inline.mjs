// Inline edit with a diff preview and the status bar (test_vscode_inline.py). `cfg.scenario`:
// - "preview": Ctrl+K streams the proposal into a diff with Accept / Reject; Esc rejects, Ctrl+Enter accepts, one
//   Ctrl+Z undoes; the status bar shows the model and `$spent / $budget` (warning colour from 80 %, error colour
//   at 100 % after the budget setting is lowered), its quick pick switches the chat model; the getting-started
//   walkthrough ticks its steps as they are done (verify, a chat answer);
// - "cancel": Esc, then the Cancel CodeLens, while the answer still streams close the diff and leave the file.
import fs from 'node:fs';
import path from 'node:path';
import {
  answerQuickInput, cfg, chatFrame, clearNotifications, drive, editor, editorText, expectMessage, fatal, messages,
  openFile, page, pickProvider, result, runCommand, screenshot, setKeyStep, until,
} from './drive_lib.mjs';

const tabDirty = () => page.locator('.tabs-container .tab.dirty').count();

const modified = () => page.locator('.monaco-diff-editor .editor.modified .view-lines:not(.line-delete)').first();
const lens = (text) => page.locator('.codelens-decoration a', { hasText: text });

/** Ctrl+K on the first `cfg.selectLines` lines of the file with the instruction. */
async function startInlineEdit() {
  const ed = await openFile(cfg.file, 'def add(');
  await ed.locator('.view-lines').click();
  await page.keyboard.press('Control+Home');
  for (let i = 0; i < cfg.selectLines; i += 1) await page.keyboard.press('Shift+ArrowDown');
  await page.keyboard.press('Control+K');
  await answerQuickInput(cfg.instruction);
  await page.keyboard.press('Enter');
}

/** Ctrl+K with the selection, the instruction, then wait for the streamed diff with its Accept CodeLens. */
async function previewInlineEdit(name) {
  await startInlineEdit();
  await until('the proposed edit in the diff editor', async () => {
    const { dialogs, toasts } = await messages();
    const err = [...dialogs, ...toasts].find((t) => /byok: /.test(t));
    if (err) throw fatal(`inline edit failed: ${err}`);
    return (await modified().innerText()).replace(/\u00a0/g, ' ').includes(cfg.expectInEditor)
      && (await lens('Accept').count()) > 0;
  }, 30000);
  await screenshot(name);
  return {
    modified: (await modified().innerText()).replace(/\u00a0/g, ' '),
    insertedLines: await page.locator('.monaco-diff-editor .editor.modified .line-insert').count(),
    removedLines: await page.locator('.monaco-diff-editor .line-delete').count(), // inline or side by side
    lenses: await page.locator('.codelens-decoration a').allTextContents(),
    dirtyWhilePreviewing: await tabDirty(),
  };
}

async function diffClosed() {
  await until('the diff editor to close', async () => (await page.locator('.monaco-diff-editor').count()) === 0, 10000);
}

/** Esc rejects (file untouched, not dirty); Ctrl+Enter accepts; one Ctrl+Z restores the selection's text. */
async function inlinePreviewStep() {
  const ed = editor();
  result.inlinePreview = await previewInlineEdit('inline-diff-preview');
  await page.keyboard.press('Escape');
  await diffClosed();
  await page.waitForTimeout(300);
  result.inlineRejected = { editor: await editorText(ed), disk: fs.readFileSync(cfg.file, 'utf8'), dirty: await tabDirty() };
  await screenshot('inline-rejected');
  result.inlineAcceptPreview = await previewInlineEdit('inline-diff-before-accept');
  await page.keyboard.press('Control+Enter');
  await diffClosed();
  await until('the accepted edit in the editor', async () => (await editorText(ed)).includes(cfg.expectInEditor));
  result.inlineAccepted = await editorText(ed);
  await screenshot('inline-accepted');
  await page.keyboard.press('Control+Z');
  await until('one undo to restore the function', async () => !(await editorText(ed)).includes('add_numbers'));
  result.inlineUndone = await editorText(ed);
  await screenshot('inline-undone');
}

const statusItem = () => page.locator('.statusbar-item', { hasText: /fake-(model|other) · \$/ }).first();

/** The status bar item's text, its kind class and background, and the theme's warning / error backgrounds. */
async function statusLook() {
  return statusItem().evaluate((el) => {
    const css = getComputedStyle(document.querySelector('.monaco-workbench'));
    return {
      text: el.innerText.trim(),
      classes: el.className,
      background: getComputedStyle(el).backgroundColor,
      warningBackground: css.getPropertyValue('--vscode-statusBarItem-warningBackground').trim(),
      errorBackground: css.getPropertyValue('--vscode-statusBarItem-errorBackground').trim(),
    };
  });
}

/** Wait until the status bar shows `spend` and return its look. */
async function statusShowing(spend, name) {
  await until(`the status bar to show ${spend}`, async () => (await statusItem().innerText()).includes(spend), 20000);
  await page.waitForTimeout(300);
  await clearNotifications(); // the server's budget warning toast sits over the status bar
  await page.waitForTimeout(500);
  await screenshot(name);
  return statusLook();
}

/** The status bar shows the model and `$spent / $budget` in the warning colour; its quick pick switches the
 * chat model (the user setting). */
async function statusSpendStep() {
  result.statusWarning = await statusShowing(cfg.expectSpend, 'status-spend-warning');
  const settingsFile = path.join(cfg.userSettingsDir, 'settings.json');
  await statusItem().click();
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Switch chat model' }).first().waitFor();
  await screenshot('status-menu');
  await answerQuickInput('Switch chat model');
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'fake-other' }).first().waitFor();
  await screenshot('status-switch-model');
  await answerQuickInput('fake-other');
  await page.keyboard.press('Enter');
  result.switchedText = await until('the status bar to show fake-other', async () => {
    const text = (await statusItem().innerText()).trim();
    return text.includes('fake-other') ? text : undefined;
  }, 20000);
  result.switchedSettings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  await screenshot('status-model-switched');
}

/** Lower `byok.budget.monthlyUsd` (a machine setting) below the spend: the item turns the error colour. */
async function statusOverBudgetStep() {
  const file = path.join(cfg.machineSettingsDir, 'settings.json');
  const settings = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(file, JSON.stringify({ ...settings, 'byok.budget': { monthlyUsd: cfg.lowerBudget } }, null, 2));
  result.statusError = await statusShowing(cfg.expectOverBudget, 'status-over-budget');
}

/** The walkthrough's steps still to do: verify the key, then a chat answer in the chat view. */
async function verifyAndChatStep() {
  await pickProvider('BYOK: Verify API Key', cfg.provider);
  result.verified = await expectMessage(/key OK/);
  await clearNotifications();
  await runCommand('BYOK: Chat');
  const frame = await chatFrame();
  await frame.locator('#input').fill('hello');
  await frame.locator('#send').click();
  result.chatFooter = await until('the chat answer', async () => {
    if ((await frame.locator('.msg.assistant').count()) === 0) return undefined;
    const status = (await frame.locator('.msg.status').last().textContent()).trim();
    if (status === 'error') throw fatal(`chat failed: ${await frame.locator('.msg.assistant').last().textContent()}`);
    return status !== '…' ? status : undefined;
  }, 30000);
  await screenshot('first-chat');
}

/** The getting-started walkthrough: its steps, and which are ticked (`name` for the screenshot). */
async function walkthrough(name) {
  await runCommand('Welcome: Open Walkthrough...');
  await answerQuickInput('Get started with byok');
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Get started with byok' }).first().waitFor();
  await page.keyboard.press('Enter');
  const steps = page.locator('.getting-started-step');
  await until('the walkthrough steps', async () => (await steps.count()) >= 4, 20000);
  await page.waitForTimeout(800);
  await screenshot(name);
  const seen = await steps.evaluateAll((els) => els.map((el) => ({
    title: el.querySelector('.step-title')?.textContent?.trim() ?? '',
    done: el.querySelector('.codicon.complete') !== null, // the step's check mark
  })));
  await runCommand('View: Close Editor'); // the walkthrough is an editor
  return seen;
}

/** Esc, then the Cancel CodeLens, while the answer is still streaming: each time the diff closes, the file is
 * left as it was, and the request is cancelled (the fake provider sees its connection closed). */
async function cancelStep() {
  const ed = editor();
  for (const how of ['escape', 'lens']) {
    await startInlineEdit();
    await until('the streaming proposal in the diff editor', async () =>
      (await modified().innerText().catch(() => '')).replace(/\u00a0/g, ' ').includes(cfg.expectStreaming)
      && (await lens('Cancel').count()) > 0, 30000);
    await screenshot(`inline-streaming-${how}`);
    const streamingLenses = await page.locator('.codelens-decoration a').allTextContents();
    if (how === 'escape') await page.keyboard.press('Escape');
    else await lens('Cancel').first().click();
    await diffClosed();
    await page.waitForTimeout(500);
    result[`cancelled_${how}`] = {
      lenses: streamingLenses, editor: await editorText(ed), disk: fs.readFileSync(cfg.file, 'utf8'), dirty: await tabDirty(),
      diffs: await page.locator('.monaco-diff-editor').count(),
    };
    await screenshot(`inline-cancelled-${how}`);
  }
}

await drive(async () => {
  if (cfg.scenario === 'cancel') {
    await setKeyStep();
    await cancelStep();
    return;
  }
  result.walkthroughBefore = await walkthrough('walkthrough-new');
  result.statusBelow = await statusShowing(cfg.expectSpendBefore, 'status-spend-below-80');
  await setKeyStep();
  await inlinePreviewStep();
  await statusSpendStep();
  await verifyAndChatStep();
  result.walkthroughAfter = await walkthrough('walkthrough-ticked');
  await statusOverBudgetStep();
});
