// Composer and agent in VS Code (test_vscode_agent.py): BYOK: Composer / BYOK: Agent set the chat's mode (a view
// never loaded, a side bar closed), the MCP server start asked in a modal dialog, Composer through the refactor
// preview, the agent's run_command asked in a modal dialog, BYOK: Restore Checkpoint, agent edits through the
// refactor preview (one file accepted, one rejected), BYOK: MCP Servers, and a question left unanswered past
// its timeout (the chat says so, the late Allow changes nothing).
import fs from 'node:fs';
import {
  answerQuickInput, cfg, chatFrame, clearNotifications, drive, editor, editorText, expectMessage, fatal, openFile, page,
  result, runCommand, screenshot,
  setKeyStep, until,
} from './drive_lib.mjs';

let frame;

/** The modal dialog's title and detail once it shows `re`. */
async function modal(re, timeoutMs = 30000) {
  const box = page.locator('.monaco-dialog-box');
  return until(`a modal dialog matching ${re}`, async () => {
    if (!(await box.count())) return undefined;
    // VS Code shows a message without detail in the detail element and has no title element then
    const texts = await box.evaluate((b) => ['.dialog-message-text', '.dialog-message-detail']
      .map((sel) => (b.querySelector(sel)?.textContent ?? '').trim()));
    const [title, detail] = texts[0] ? texts : [texts[1], ''];
    return re.test(title) ? { title, detail } : undefined;
  }, timeoutMs, 200);
}

async function clickModal(label) {
  // exactly `label`: hasText alone would take "Don't start" for "Start"
  await page.locator('.monaco-dialog-box .dialog-buttons .monaco-button', { hasText: new RegExp(`^${label}$`) }).first().click();
  await page.locator('.monaco-dialog-box').waitFor({ state: 'detached', timeout: 10000 });
}

/** Send `prompt` in the chat view; the answer's locator once its footer shows. */
async function send(prompt, onWait) {
  const before = await frame.locator('.msg.assistant').count();
  await frame.locator('#input').fill(prompt);
  await frame.locator('#send').click();
  await until(`the answer to "${prompt}"`, async () => {
    if (onWait && await onWait()) return false;
    if ((await frame.locator('.msg.assistant').count()) <= before) return false;
    const status = (await frame.locator('.msg.status').last().textContent()).trim();
    if (status === 'error') throw fatal(`failed: ${await frame.locator('.msg.assistant').last().textContent()}`);
    return status !== '…';
  }, 60000, 200);
  return frame.locator('.msg.assistant').last();
}

const readOrNull = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null);

await drive(async () => {
  await setKeyStep();
  await openFile(cfg.file, 'def add(');

  // Composer (Edit mode) with review "preview": VS Code's refactor preview, Apply
  // the chat view was never opened: the command's mode must reach it once it has loaded
  await runCommand('BYOK: Composer');
  frame = await chatFrame();
  result.composerMode = await until('the mode picker on Edit', async () => {
    const mode = await frame.locator('#mode').inputValue();
    return mode === 'edit' ? mode : undefined;
  }, 10000);
  await screenshot('composer-command-mode');
  await frame.locator('#input').fill(cfg.composePrompt);
  await frame.locator('#send').click();
  const preview = page.locator('.bulk-edit-panel');
  await preview.waitFor({ state: 'visible', timeout: 60000 });
  await until('both files in the refactor preview', async () => {
    const text = await preview.innerText();
    return text.includes('calc.py') && text.includes('NOTES.md');
  });
  // changes that need confirmation start unticked: tick calc.py, leave NOTES.md out
  await preview.locator('.monaco-list-row[aria-level="1"]', { hasText: 'calc.py' }).first().locator('input[type="checkbox"]').first().check();
  await page.waitForTimeout(500);
  await screenshot('composer-refactor-preview');
  await preview.locator('.monaco-button', { hasText: 'Apply' }).first().click();
  const composed = frame.locator('.msg.assistant').last();
  await until('the composer answer', async () => (await composed.locator('.files li').count()) === 2, 30000);
  result.composerFiles = await composed.locator('.files li').allTextContents();
  result.composerApplied = await composed.locator('.applied').textContent();
  await until('the composed text in the editor', async () => (await editorText(editor())).includes(cfg.expectComposed));
  await runCommand('File: Save All');
  await until('calc.py saved', () => readOrNull(cfg.file)?.includes(cfg.expectComposed));
  result.calcAfterComposer = readOrNull(cfg.file);
  result.notesAfterComposer = readOrNull(cfg.notes);
  await screenshot('composer-applied-saved');

  // Agent: run_command asks in a modal dialog; Allow once runs it; the output reaches the answer
  // with the side bar closed, BYOK: Agent opens the view in Agent mode
  await runCommand('View: Close Primary Side Bar');
  await until('the side bar closed', async () => !(await page.locator('.part.sidebar').isVisible()), 10000);
  await screenshot('side-bar-closed');
  await runCommand('BYOK: Agent');
  frame = await chatFrame();
  result.agentMode = await until('the mode picker on Agent', async () => {
    const mode = await frame.locator('#mode').inputValue();
    return mode === 'agent' ? mode : undefined;
  }, 10000);
  // the agent's first run asks to start the MCP server, then to run the command: both modal
  let asked;
  const answer = await send(cfg.agentPrompt, async () => {
    if (asked) return false;
    const box = page.locator('.monaco-dialog-box');
    if (!(await box.count())) return false;
    const dialog = await modal(/Start MCP server|wants to run a command/, 1000);
    if (/Start MCP server/.test(dialog.title)) {
      result.mcpStart = `${dialog.title}\n${dialog.detail}`;
      await screenshot('mcp-start-modal');
      await clickModal('Start');
      return true;
    }
    asked = dialog;
    await screenshot('agent-run-command-modal');
    await clickModal('Allow once');
    return true;
  });
  if (!asked) throw new Error('the agent ran the command without asking');
  result.agentAsk = asked.title;
  result.agentAskDetail = asked.detail;
  result.agentAnswer = await answer.textContent();
  await answer.locator('details.tool').first().evaluate((d) => { d.open = true; });
  result.agentTools = await answer.locator('details.tool summary').allTextContents();
  await screenshot('agent-result');

  // BYOK: Restore Checkpoint: the composer's checkpoint from the quick pick, confirmed in a modal dialog
  await runCommand('BYOK: Restore Checkpoint');
  const rows = page.locator('.quick-input-widget .monaco-list-row');
  await rows.first().waitFor({ state: 'visible' });
  await page.waitForTimeout(300);
  result.checkpointPick = await rows.allInnerTexts();
  await screenshot('restore-checkpoint-pick');
  await page.keyboard.press('Enter');
  const confirm = await modal(/^Restore/);
  result.restoreConfirm = `${confirm.title}\n${confirm.detail}`;
  await screenshot('restore-checkpoint-confirm');
  await clickModal('Restore');
  const toast = page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'restored' }).first();
  await toast.waitFor({ state: 'visible', timeout: 30000 });
  result.restored = await toast.textContent();
  await until('calc.py back in the editor', async () => (await editorText(editor())).includes('def add(a, b):'));
  await runCommand('File: Save All');
  await until('calc.py back on disk', () => readOrNull(cfg.file)?.includes('def add(a, b):'));
  result.calcAfterRestore = readOrNull(cfg.file);
  result.notesAfterRestore = readOrNull(cfg.notes);
  await screenshot('restore-checkpoint-restored');

  // Agent edits with review "preview": the refactor preview opens; calc.py accepted, CHANGES.md rejected
  await page.keyboard.press('Escape');
  await clearNotifications();
  const before = await frame.locator('.msg.assistant').count();
  await frame.locator('#input').fill(cfg.agentEditPrompt);
  await frame.locator('#send').click();
  await preview.waitFor({ state: 'visible', timeout: 60000 });
  await until('both agent files in the refactor preview', async () => {
    const text = await preview.innerText();
    return text.includes('calc.py') && text.includes('CHANGES.md');
  });
  await preview.locator('.monaco-list-row[aria-level="1"]', { hasText: 'calc.py' }).first().locator('input[type="checkbox"]').first().check();
  await page.waitForTimeout(500);
  await screenshot('agent-refactor-preview');
  await preview.locator('.monaco-button', { hasText: 'Apply' }).first().click();
  await until('the agent edit answer', async () => (await frame.locator('.msg.assistant').count()) > before
    && (await frame.locator('.msg.assistant').last().locator('.files li').count()) === 2, 30000);
  const edited = frame.locator('.msg.assistant').last();
  result.agentEditFiles = await edited.locator('.files li').allTextContents();
  result.agentEditApplied = await edited.locator('.applied').textContent();
  await until('the agent edit in the editor', async () => (await editorText(editor())).includes(cfg.expectAgentEdit));
  await runCommand('File: Save All');
  await until('calc.py saved after the agent edit', () => readOrNull(cfg.file)?.includes(cfg.expectAgentEdit));
  result.calcAfterAgentEdit = readOrNull(cfg.file);
  result.changesAfterAgentEdit = readOrNull(cfg.changes);
  await screenshot('agent-edit-files');

  // BYOK: MCP Servers: the running server with its tools; its tools in a read-only document
  const serverRow = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'time' }).first();
  await until('the time server running in BYOK: MCP Servers', async () => {
    await runCommand('BYOK: MCP Servers');
    await serverRow.waitFor({ state: 'visible' });
    const rows = await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts();
    if (/running/.test(await serverRow.innerText())) return true;
    await page.keyboard.press('Escape'); // still starting: look again
    throw new Error(`rows: ${JSON.stringify(rows)}`);
  }, 30000, 1000);
  result.mcpRows = await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts();
  await screenshot('mcp-servers');
  await serverRow.click();
  await answerQuickInput('Show tools');
  await page.keyboard.press('Enter');
  result.mcpDocument = await until('the MCP servers document', async () => {
    const text = await editorText(editor());
    return text.includes('get_current_time') ? text : undefined;
  });
  await screenshot('mcp-servers-document');

  // a question nobody answers in time: the chat says so at once, and the late Allow changes nothing
  await page.keyboard.press('Escape');
  const beforeLate = await frame.locator('.msg.assistant').count();
  await frame.locator('#input').fill(cfg.latePrompt);
  await frame.locator('#send').click();
  const lateAsk = await modal(/wants to run a command/, 60000);
  result.lateAsk = lateAsk.title;
  const lateAnswer = frame.locator('.msg.assistant').nth(beforeLate);
  result.lateNote = await until('the chat saying the question timed out', async () =>
    (await lateAnswer.locator('.note').allTextContents()).find((n) => /No answer in time/.test(n)),
  cfg.permissionTimeoutS * 1000 + 20000, 250);
  result.lateWarning = await expectMessage(/no answer in time/);
  await screenshot('ask-timed-out');
  await clickModal('Allow once');
  result.lateToast = await expectMessage(/came too late/);
  await until('the answer after the timed-out question', async () =>
    (await frame.locator('.msg.status').nth(beforeLate).textContent()).trim() !== '…', 60000, 200);
  await lateAnswer.locator('details.tool').first().evaluate((d) => { d.open = true; });
  result.lateTools = await lateAnswer.locator('details.tool summary').allTextContents();
  result.lateNotes = await lateAnswer.locator('.note').allTextContents();
  result.lateText = await lateAnswer.textContent();
  result.lateMarker = fs.existsSync(cfg.lateMarker);
  await screenshot('ask-timed-out-answer');
});

