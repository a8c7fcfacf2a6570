// The chat view's scenario (test_vscode_chat.py): context chips, a rendered markdown answer, Apply as a diff
// (Reject, then Accept as one undoable edit), reasoning collapsed with a retry wait inline, the model picker,
// an error with its buttons, a composer answer with its files and its Restore button (confirmed, Undo Restore), an
// agent answer's tool calls; `@` typed in the input adds an MCP resource of server-everything (started on launch).
import fs from 'node:fs';
import {
  cfg, chatFrame, drive, editor, editorText, fatal, openFile, page, proposalAction, proposalDiff, result, runCommand,
  screenshot, setKeyStep, until,
} from './drive_lib.mjs';

let frame;

/** Send `prompt` and wait for the answer's footer (or its error); the last answer's locator. */
async function ask(prompt, { error = false } = {}) {
  const before = await frame.locator('.msg.assistant').count();
  await frame.locator('#input').fill(prompt);
  await frame.locator('#send').click();
  await until(`the answer to "${prompt}"`, async () => {
    if ((await frame.locator('.msg.assistant').count()) <= before) return false;
    const status = (await frame.locator('.msg.status').last().textContent()).trim();
    if (status === 'error' && !error) {
      throw fatal(`chat failed: ${await frame.locator('.msg.assistant').last().textContent()}`);
    }
    return status !== '…';
  }, 40000, 100);
  return frame.locator('.msg.assistant').last();
}

const chipLabels = async () => (await frame.locator('#chips .chip').allTextContents()).map((t) => t.replace(/×$/, ''));

/** The modal dialog's text once one shows `re`. */
async function modal(re, timeoutMs = 30000) {
  return until(`a modal dialog matching ${re}`, async () => {
    const box = page.locator('.monaco-dialog-box');
    if (!(await box.count())) return undefined;
    const text = (await box.innerText()).trim();
    return re.test(text) ? text : undefined;
  }, timeoutMs, 200);
}

async function clickModal(label) {
  await page.locator('.monaco-dialog-box .dialog-buttons .monaco-button', { hasText: new RegExp(`^${label}$`) }).first().click();
  await page.locator('.monaco-dialog-box').waitFor({ state: 'detached', timeout: 10000 });
}

await drive(async () => {
  // mcp.startOnLaunch: the MCP server's start is asked at once
  result.mcpStart = await modal(/Start MCP server/, 60000);
  await screenshot('mcp-start-modal');
  await clickModal('Start');
  await setKeyStep();
  const ed = await openFile(cfg.file, 'def add(');
  await runCommand('BYOK: Chat');
  frame = await chatFrame();
  // the active file and its selection are attached by default
  await ed.locator('.view-lines').click();
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('Shift+ArrowDown');
  await page.keyboard.press('Shift+ArrowDown');
  result.chips = await until('the file and selection chips', async () => {
    const labels = await chipLabels();
    return labels.includes('calc.py') && labels.includes('calc.py:1-2') ? labels : undefined;
  });
  await screenshot('context-chips');
  await frame.locator('#chips .chip.selection button.remove').click();
  result.chipsAfterRemove = await until('the selection chip gone', async () => {
    const labels = await chipLabels();
    return labels.includes('calc.py:1-2') ? undefined : labels;
  });
  await screenshot('context-chip-removed');
  // + adds a workspace file through the quick pick
  await frame.locator('#addContext').click();
  const pick = page.locator('.quick-input-widget .quick-input-box input');
  await pick.waitFor({ state: 'visible' });
  await pick.fill(cfg.addFile);
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: cfg.addFile }).first();
  await row.waitFor({ state: 'visible' });
  await row.click(); // in a multi-select pick a click checks the row
  await screenshot('context-add-file');
  await page.keyboard.press('Enter');
  result.chipsAfterAdd = await until('the added file chip', async () => {
    const labels = await chipLabels();
    return labels.includes(cfg.addFile) ? labels : undefined;
  });

  // `@` typed in the input opens the same pick: files and the MCP server's resources; the `@` goes away
  const atPick = page.locator('.quick-input-widget .quick-input-box input');
  const resourceRow = page.locator('.quick-input-widget .monaco-list-row', { hasText: cfg.mcpResource }).first();
  await until('the MCP resource offered after @', async () => {
    await frame.locator('#input').fill('Explain ');
    await frame.locator('#input').press('End');
    await frame.locator('#input').pressSequentially('@');
    await atPick.waitFor({ state: 'visible' });
    await page.waitForTimeout(300);
    result.atPickRows = await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts();
    await atPick.fill(cfg.mcpResource);
    if (await resourceRow.isVisible().catch(() => false)) return true;
    await page.keyboard.press('Escape'); // the server still starting: try again
    throw new Error(`rows: ${JSON.stringify(await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts())}`);
  }, 30000, 1000);
  result.mcpRow = await resourceRow.innerText();
  await resourceRow.click();
  await screenshot('context-at-mcp-resource');
  await page.keyboard.press('Enter');
  result.mcpChip = await until('the MCP resource chip', async () => {
    const chip = frame.locator('#chips .chip.mcp');
    return (await chip.count()) ? { label: (await chip.first().textContent()).replace(/×$/, ''),
      title: await chip.first().getAttribute('title') } : undefined;
  });
  result.inputAfterAt = await frame.locator('#input').inputValue();
  await screenshot('context-mcp-chip');

  // a scripted markdown answer: heading, list, code block with its actions
  const answer = await ask(cfg.planPrompt);
  result.markdown = {
    heading: await answer.locator('h1').textContent(),
    items: await answer.locator('ul > li').allTextContents(),
    code: await answer.locator('.codeblock pre code').textContent(),
    actions: await answer.locator('.codeblock .actions button').allTextContents(),
  };
  await screenshot('chat-markdown');

  // Apply opens a diff; Reject leaves the file; Accept changes the buffer as one undoable edit
  const apply = answer.locator('.codeblock button.apply').first();
  await apply.click();
  await proposalDiff(cfg.expectApplied);
  await screenshot('apply-diff');
  await proposalAction('Reject Change');
  await until('the block marked rejected', async () =>
    (await answer.locator('.codeblock .state').first().textContent()) === 'rejected');
  result.editorAfterReject = await editorText(editor());
  await screenshot('apply-rejected');
  await apply.click();
  await proposalDiff(cfg.expectApplied);
  await proposalAction('Accept Change');
  await until('the accepted block in the editor', async () => (await editorText(editor())).includes(cfg.expectApplied));
  result.applyState = await answer.locator('.codeblock .state').first().textContent();
  result.editorAfterAccept = await editorText(editor());
  await screenshot('apply-accepted');
  await editor().locator('.view-lines').click();
  await page.keyboard.press('Control+Z');
  result.editorAfterUndo = await until('the undone apply', async () => {
    const text = await editorText(editor());
    return text.includes(cfg.expectApplied) ? undefined : text;
  });
  await page.keyboard.press('Control+Shift+Z');
  await until('the redone apply', async () => (await editorText(editor())).includes(cfg.expectApplied));
  await page.keyboard.press('Control+S');
  await until('the file saved', () => fs.readFileSync(cfg.file, 'utf8').includes(cfg.expectApplied));
  result.fileAfterApply = fs.readFileSync(cfg.file, 'utf8');

  // reasoning collapsed; the retry wait inline; cached tokens in the footer
  const thought = await ask(cfg.thinkPrompt);
  result.reasoning = {
    open: await frame.locator('details.reasoning').last().evaluate((d) => d.open),
    text: await frame.locator('details.reasoning').last().textContent(),
    notes: await thought.locator('.note').allTextContents(),
    footer: await frame.locator('.msg.status').last().textContent(),
  };
  await screenshot('reasoning-collapsed');

  // the model picker switches the model
  await frame.locator('#model').selectOption('fake-other');
  await screenshot('model-picker');
  await ask(cfg.helloPrompt);
  result.modelFooter = await frame.locator('.msg.status').last().textContent();
  await screenshot('model-switched');

  // an error shows the cause and fix with buttons
  await frame.locator('#model').selectOption(cfg.brokenModel);
  const failed = await ask(cfg.helloPrompt, { error: true });
  result.error = {
    cause: await failed.locator('.cause').textContent(),
    fix: await failed.locator('.fix').count() ? await failed.locator('.fix').textContent() : '',
    buttons: await failed.locator('.answer-actions button').allTextContents(),
  };
  await screenshot('error-buttons');

  // Edit mode (composer): the files it touched, whether VS Code applied the edit, Restore
  await frame.locator('#model').selectOption('');
  await frame.locator('#mode').selectOption('edit');
  const composed = await ask(cfg.composePrompt);
  result.composer = {
    files: await composed.locator('.files li').allTextContents(),
    applied: await composed.locator('.applied').textContent(),
    restore: await composed.locator('button.restore').count(),
  };
  await until('the composed text in the editor', async () => (await editorText(editor())).includes(cfg.expectComposed));
  await screenshot('composer-answer');

  // Restore on the composer answer: its checkpoint back in the buffer (saved: on disk), Undo Restore offered
  await composed.locator('button.restore').click();
  result.restoreConfirm = await modal(/Restore \d+ file/);
  await screenshot('restore-button-confirm');
  await clickModal('Restore');
  const restored = page.locator('.notifications-toasts .notification-list-item', { hasText: 'restored' }).first();
  await restored.waitFor({ state: 'visible', timeout: 30000 });
  result.restoreToast = await restored.locator('.notification-list-item-message').textContent();
  result.restoreButtons = await restored.locator('.monaco-button').allTextContents();
  result.editorAfterRestore = await until('the pre-composer text in the editor', async () => {
    const text = await editorText(editor());
    return text.includes(cfg.expectApplied) && !text.includes(cfg.expectComposed) ? text : undefined;
  });
  await page.waitForTimeout(700); // the toast slides in
  await screenshot('restore-button-restored');
  await runCommand('File: Save All');
  await until('the restored file on disk', () => fs.readFileSync(cfg.file, 'utf8').includes(cfg.expectApplied));
  result.fileAfterRestore = fs.readFileSync(cfg.file, 'utf8');
  // Undo Restore puts the composed text back
  await restored.locator('.monaco-button', { hasText: 'Undo Restore' }).click();
  await until('the composed text back after Undo Restore', async () =>
    (await editorText(editor())).includes(cfg.expectComposed));
  await screenshot('restore-undone');

  // Agent mode: the step's tool call is a collapsible line
  await frame.locator('#mode').selectOption('agent');
  const agent = await ask(cfg.agentPrompt);
  const tool = agent.locator('details.tool').first();
  await tool.locator('summary').click();
  result.agent = {
    tools: await agent.locator('details.tool summary').allTextContents(),
    detail: await tool.locator('pre').textContent(),
    text: await agent.textContent(),
  };
  await screenshot('agent-steps');

  await frame.locator('#newChat').click();
  await until('an empty chat', async () => (await frame.locator('.msg').count()) === 0);
  await screenshot('new-chat');
});
