// Drive a running code-server with playwright-core + Debian's chromium through the byok scenario.
// Usage: node drive.mjs CONFIG.json   (written by test_vscode.py; see there for the fields)
// Prints one JSON line `RESULT {...}` on success; exits 1 with `FAILED <message>` otherwise.
// A screenshot of each step is saved in config.screenshots. The helpers are in drive_lib.mjs.
import fs from 'node:fs';
import {
  answerQuickInput, cfg, chatFrame, clearNotifications, drive, editor, editorText, expectMessage, fatal, messages, openFile, page,
  pickProvider, proposalAction, proposalDiff, result, runCommand, screenshot, setKeyStep, until,
} from './drive_lib.mjs';

const run = new Set(cfg.steps ?? ['setKey', 'verify', 'verifyBad', 'inlineEdit', 'chat', 'stop', 'apply', 'markdown', 'model',
  'tab', 'usage', 'status']);

async function verifyStep() {
  await pickProvider('BYOK: Verify API Key', cfg.provider);
  result.verify = await expectMessage(/key OK/);
  await screenshot('verify-ok');
  await clearNotifications();
}

/** A wrong key for a second provider id: Verify shows the server's cause and fix. */
async function verifyBadStep() {
  await setKeyStep(cfg.badProvider, cfg.badKey, 'set-bad-key');
  await pickProvider('BYOK: Verify API Key', cfg.badProvider);
  result.verifyBad = await expectMessage(/key failed/, /^$/);
  await screenshot('verify-bad-key');
  await clearNotifications();
  await pickProvider('BYOK: Delete API Key', cfg.badProvider);
  result.deleteKey = await expectMessage(/key (deleted|was not stored)/);
  await clearNotifications();
}

/** Show Usage opens this month's usage as a JSON document. */
async function usageStep() {
  await runCommand('BYOK: Show Usage');
  const ed = editor();
  result.usage = await until('the usage document', async () => {
    const text = await editorText(ed);
    return text.includes('"month"') ? text : undefined;
  });
  await screenshot('usage');
}

/** The status bar item names the chat model; its tooltip labels Tab and Apply as the built-in model. */
async function statusStep() {
  const item = page.locator('.statusbar-item', { hasText: 'fake-model' }).first();
  result.statusText = (await item.innerText()).trim();
  await item.hover();
  const hover = page.locator('.monaco-hover, .workbench-hover', { hasText: 'Tab' }).first();
  await hover.waitFor({ state: 'visible', timeout: 10000 });
  result.statusTooltip = (await hover.innerText()).replace(/\u00a0/g, ' ');
  await screenshot('status-bar-tooltip');
  await page.mouse.move(700, 400);
}

async function inlineEditStep() {
  const ed = await openFile(cfg.file, 'def add(');
  await ed.locator('.view-lines').click();
  await page.keyboard.press('Control+Home');
  for (let i = 0; i < cfg.selectLines; i += 1) await page.keyboard.press('Shift+ArrowDown');
  await screenshot('function-selected');
  await page.keyboard.press(cfg.useKeybinding ? 'Control+K' : 'Escape');
  if (!cfg.useKeybinding) await runCommand('BYOK: Inline Edit');
  await answerQuickInput(cfg.instruction);
  await screenshot('inline-edit-instruction');
  await page.keyboard.press('Enter');
  await until('the inline edit to land in the editor', async () => {
    const { dialogs, toasts } = await messages();
    const err = [...dialogs, ...toasts].find((t) => /byok: /.test(t) && !/editing/.test(t));
    if (err && /'byok\.inlineEdit' is not defined/.test(err)) return (result.inlineEditMissing = err);
    if (err) throw fatal(`inline edit failed: ${err}`);
    return (await editorText(ed)).includes(cfg.expectInEditor);
  }, 30000).catch(async (err) => {
    await screenshot('inline-edit-failed');
    const { dialogs, toasts } = await messages();
    throw new Error(`${err.message}; messages: ${JSON.stringify([...dialogs, ...toasts])}`);
  });
  if (result.inlineEditMissing) {
    await screenshot('inline-edit-missing-on-server');
    await clearNotifications();
    return;
  }
  await page.keyboard.press('Control+S');
  await until('the file saved', () => fs.readFileSync(cfg.file, 'utf8').includes(cfg.expectInEditor));
  await screenshot('inline-edit-applied');
  result.fileAfterInlineEdit = fs.readFileSync(cfg.file, 'utf8');
}

let frame;

async function chatStep() {
  await runCommand('BYOK: Chat');
  frame = await chatFrame();
  await frame.locator('#input').fill(cfg.chatPrompt);
  await frame.locator('#send').click();
  const partials = new Set();
  await until('the streamed chat answer', async () => {
    const text = (await frame.locator('.msg.assistant').last().textContent()).trim();
    partials.add(text);
    const status = await frame.locator('.msg.status').last().textContent();
    if (/^error/.test(status)) throw fatal(`chat failed: ${status}`);
    return text === cfg.expectChat && status !== '…' ? status : undefined;
  }, 30000, 20).then((status) => { result.chatStatus = status; });
  result.chatAnswer = (await frame.locator('.msg.assistant').last().textContent()).trim();
  result.chatPartials = [...partials].filter((t) => t && t !== result.chatAnswer).length;
  await screenshot('chat-streamed');
}

async function stopStep() {
  await frame.locator('#input').fill(cfg.stopPrompt);
  await frame.locator('#send').click();
  await until('the slow answer to start streaming', async () =>
    /tick 3/.test(await frame.locator('.msg.assistant').last().textContent()), 30000, 50);
  await frame.locator('#stop').click();
  await until('the chat to say stopped', async () =>
    (await frame.locator('.msg.status').last().textContent()) === 'stopped', 10000, 50);
  result.stoppedAnswer = await frame.locator('.msg.assistant').last().textContent();
  await page.waitForTimeout(500);
  await screenshot('chat-stopped');
}

/** A chat answer with a code block; its Apply button shows the merge (built-in Apply) as a diff; Accept lands it. */
async function applyStep() {
  await frame.locator('#input').fill(cfg.applyPrompt);
  await frame.locator('#send').click();
  const button = frame.locator('.msg.assistant').last().locator('.codeblock button.apply').first();
  await button.waitFor({ state: 'visible', timeout: 30000 });
  await screenshot('chat-code-block');
  await button.click();
  await proposalDiff(cfg.expectApplied).catch(async (err) => {
    const { dialogs, toasts } = await messages();
    throw new Error(`${err.message}; messages: ${JSON.stringify([...dialogs, ...toasts])}`);
  });
  await proposalAction('Accept Change');
  const ed = editor();
  await until('the applied block in the editor', async () => (await editorText(ed)).includes(cfg.expectApplied), 20000);
  await ed.locator('.view-lines').click();
  await page.keyboard.press('Control+S');
  await until('the file saved', () => fs.readFileSync(cfg.file, 'utf8').includes(cfg.expectApplied));
  result.fileAfterApply = fs.readFileSync(cfg.file, 'utf8');
  await screenshot('apply-applied');
}

/** A scripted markdown answer renders as a heading, a list and a code block with its actions; no raw HTML. */
async function markdownStep() {
  await frame.locator('#input').fill(cfg.markdownPrompt);
  await frame.locator('#send').click();
  const answer = frame.locator('.msg.assistant').last();
  await until('the rendered markdown answer', async () =>
    (await frame.locator('.msg.status.footer').count()) >= 1 && (await answer.locator('h1').count()) === 1
      && /fake-model/.test(await frame.locator('.msg.status').last().textContent()), 30000);
  result.markdown = {
    heading: await answer.locator('h1').textContent(),
    items: await answer.locator('ul > li').allTextContents(),
    code: await answer.locator('.codeblock pre code').textContent(),
    actions: await answer.locator('.codeblock .actions button').allTextContents(),
    images: await answer.locator('img').count(),
    rawBold: await answer.locator('b').count(),
  };
  await screenshot('chat-markdown');
}

/** The model picker lists the configured models by provider; the next request goes to the picked one. */
async function modelStep() {
  const picker = frame.locator('#model');
  await until('the model picker to list fake-other', async () =>
    (await picker.locator('option[value="fake-other"]').count()) === 1, 20000);
  result.modelGroups = await picker.locator('optgroup').evaluateAll((gs) => gs.map((g) => g.label));
  await picker.selectOption('fake-other');
  await screenshot('model-picker');
  await frame.locator('#input').fill(cfg.chatPrompt);
  await frame.locator('#send').click();
  result.modelFooter = await until('an answer from fake-other', async () => {
    const status = await frame.locator('.msg.status').last().textContent();
    if (/^error/.test(status)) throw fatal(`chat failed: ${status}`);
    return /fake-other/.test(status) ? status : undefined;
  }, 30000);
  await screenshot('model-switched');
}

/** Tab: ghost text from the server's built-in model (textDocument/inlineCompletion), accepted with Tab. */
async function tabStep() {
  const ed = editor();
  await ed.locator('.view-lines').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type(cfg.tabTyped, { delay: 40 });
  const ghost = ed.locator('.ghost-text-decoration, .ghost-text, .ghost-text-decoration-preview').first();
  await ghost.waitFor({ state: 'visible', timeout: 15000 });
  result.tabGhost = (await ghost.innerText()).replace(/\u00a0/g, ' ');
  await screenshot('tab-ghost-text');
  await page.keyboard.press('Tab');
  await until('the accepted suggestion', async () => (await editorText(ed)).includes(cfg.tabExpect));
  await page.keyboard.press('Control+S');
  await until('the file saved', () => fs.readFileSync(cfg.file, 'utf8').includes(cfg.tabExpect));
  result.fileAfterTab = fs.readFileSync(cfg.file, 'utf8');
  await screenshot('tab-accepted');
}

// set the key in the password box; verify it (and a wrong key for another id); Ctrl+K inline edit of a
// selected function; a streamed chat answer; a slow answer stopped with Stop; Apply of a chat code block;
// Tab ghost text from the built-in model; Show Usage; the status bar tooltip.
await drive(async () => {
  if (cfg.expectStartFailure) {
    result.startFailure = await expectMessage(/could not start/i, /^$/);
    await screenshot('start-failure');
    await page.locator('.notifications-toasts .monaco-button', { hasText: 'Show Logs' }).first().click();
    await until('the byok log in the Output panel', async () =>
      /the server could not start/.test((await page.locator('.part.panel .view-lines').first().innerText()).replace(/\u00a0/g, ' ')), 10000);
    await screenshot('start-failure-logs');
    return;
  }
  if (run.has('setKey')) result.setKey = await setKeyStep();
  if (run.has('verify')) await verifyStep();
  if (run.has('verifyBad')) await verifyBadStep();
  if (run.has('inlineEdit')) await inlineEditStep();
  if (run.has('chat') || run.has('markdown') || run.has('model')) await chatStep();
  if (run.has('stop')) await stopStep();
  if (run.has('apply')) await applyStep();
  if (run.has('markdown')) await markdownStep();
  if (run.has('model')) await modelStep();
  if (run.has('tab')) await tabStep();
  if (run.has('usage')) await usageStep();
  if (run.has('status')) await statusStep();
});
