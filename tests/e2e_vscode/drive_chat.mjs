// The chat view's scenario (test_vscode_chat.py): context chips, a rendered markdown answer, Apply as a diff
// (Reject, then Accept as one undoable edit), reasoning collapsed with a retry wait inline, the model picker,
// an error with its buttons, a composer answer with its files and Restore button, an agent answer's tool calls.
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

await drive(async () => {
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
