// Inline edit with a diff preview and the status bar (test_vscode_inline.py): Ctrl+K streams the proposal into
// a diff with Accept / Reject; Esc rejects, Ctrl+Enter accepts, one Ctrl+Z undoes; the status bar shows the model
// and `$spent / $budget`, its quick pick switches the chat model; the getting-started walkthrough.
import fs from 'node:fs';
import path from 'node:path';
import {
  answerQuickInput, cfg, drive, editor, editorText, fatal, messages, openFile, page, result, runCommand, screenshot,
  setKeyStep, until,
} from './drive_lib.mjs';

const tabDirty = () => page.locator('.tabs-container .tab.dirty').count();

/** Ctrl+K with the selection, the instruction, then wait for the streamed diff with its Accept CodeLens. */
async function previewInlineEdit(name) {
  const ed = await openFile(cfg.file, 'def add(');
  await ed.locator('.view-lines').click();
  await page.keyboard.press('Control+Home');
  for (let i = 0; i < cfg.selectLines; i += 1) await page.keyboard.press('Shift+ArrowDown');
  await page.keyboard.press('Control+K');
  await answerQuickInput(cfg.instruction);
  await page.keyboard.press('Enter');
  const modified = page.locator('.monaco-diff-editor .editor.modified .view-lines:not(.line-delete)').first();
  await until('the proposed edit in the diff editor', async () => {
    const { dialogs, toasts } = await messages();
    const err = [...dialogs, ...toasts].find((t) => /byok: /.test(t));
    if (err) throw fatal(`inline edit failed: ${err}`);
    return (await modified.innerText()).replace(/\u00a0/g, ' ').includes(cfg.expectInEditor)
      && (await page.locator('.codelens-decoration', { hasText: 'Accept' }).count()) > 0;
  }, 30000);
  await screenshot(name);
  return {
    modified: (await modified.innerText()).replace(/\u00a0/g, ' '),
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

/** The status bar shows the model and `$spent / $budget`; its quick pick switches the chat model (the user
 * setting). */
async function statusSpendStep() {
  const item = () => page.locator('.statusbar-item', { hasText: /fake-(model|other) · \$/ }).first();
  result.spendText = await until('the spend in the status bar', async () => {
    const text = (await item().innerText()).trim();
    return text.includes(cfg.expectSpend) ? text : undefined;
  }, 20000);
  await screenshot('status-spend');
  const settingsFile = path.join(cfg.userSettingsDir, 'settings.json');
  await item().click();
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Switch chat model' }).first().waitFor();
  await screenshot('status-menu');
  await answerQuickInput('Switch chat model');
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'fake-other' }).first().waitFor();
  await screenshot('status-switch-model');
  await answerQuickInput('fake-other');
  await page.keyboard.press('Enter');
  result.switchedText = await until('the status bar to show fake-other', async () => {
    const text = (await item().innerText()).trim();
    return text.includes('fake-other') ? text : undefined;
  }, 20000);
  result.switchedSettings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  await screenshot('status-model-switched');
}

/** The getting-started walkthrough lists its four steps. */
async function walkthroughStep() {
  await runCommand('Welcome: Open Walkthrough...');
  await answerQuickInput('Get started with byok');
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Get started with byok' }).first().waitFor();
  await page.keyboard.press('Enter');
  const steps = page.locator('.getting-started-step .step-title');
  await until('the walkthrough steps', async () => (await steps.count()) >= 4, 20000);
  result.walkthroughSteps = await steps.allTextContents();
  await page.waitForTimeout(500);
  await screenshot('walkthrough');
}

await drive(async () => {
  await setKeyStep();
  await inlinePreviewStep();
  await statusSpendStep();
  await walkthroughStep();
});
