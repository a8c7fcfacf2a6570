/**
 * The chat view's script (runs in the webview, bundled to dist/webview.js): markdown through markdown-it
 * (raw HTML off) and DOMPurify, code blocks with Apply / Insert / Copy, the model and mode pickers, context
 * chips, status notes inline, agent steps with collapsible tool calls, and Restore on checkpointed answers.
 */
import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';
import type { Answer, StepView } from '../answers';
import type { ApplyState, FromWebview, ToWebview, Turn } from '../chat';
import type { Chip } from '../chatContext';
import { UiCommand, type CodeBlock, type ModelEntry } from '../protocol';

declare function acquireVsCodeApi(): { postMessage(msg: FromWebview): void; getState(): unknown; setState(s: unknown): void };

const vscode = acquireVsCodeApi();
const md = new MarkdownIt({ html: false, linkify: false });
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const log = $<HTMLDivElement>('log');
const input = $<HTMLTextAreaElement>('input');
const sendBtn = $<HTMLButtonElement>('send');
const stopBtn = $<HTMLButtonElement>('stop');
const modeSel = $<HTMLSelectElement>('mode');
const modelSel = $<HTMLSelectElement>('model');
const chipsEl = $<HTMLDivElement>('chips');
const addContextBtn = $<HTMLButtonElement>('addContext');
const SET_KEY: [string, string] = ['Set API Key', UiCommand.setKey];
const VERIFY: [string, string] = ['Verify', UiCommand.verifyKey];
const BIND: [string, string] = ['Bind Key', UiCommand.bindKey];
const SETTINGS: [string, string] = ['Open Settings', 'workbench.action.openSettings'];
/** The buttons an error code offers besides Show Logs (codes from protocol.md's error table). */
const ERROR_BUTTONS: Record<string, [string, string][]> = {
  invalid_key: [SET_KEY, VERIFY],
  key_rejected: [SET_KEY],
  key_missing: [SET_KEY],
  no_model_access: [VERIFY, SETTINGS],
  model_not_found: [VERIFY, SETTINGS],
  key_endpoint_mismatch: [BIND, SET_KEY],
  endpoint_unreachable: [VERIFY, SETTINGS],
  bad_api_version: [SETTINGS],
  timeout: [SETTINGS],
  unknown_provider: [SETTINGS],
  insecure_endpoint: [SETTINGS],
  proxy_invalid: [SETTINGS],
  ca_bundle_unreadable: [SETTINGS],
  budget_exceeded: [SETTINGS],
  budget_invalid: [SETTINGS],
  mcp_unavailable: [SETTINGS],
};

/** The answer being streamed: its text and status notes in the order they came. */
let live: { answer: HTMLDivElement; status: HTMLDivElement; reasoning?: HTMLElement; text?: HTMLDivElement;
  raw: string; timer?: number } | undefined;
/** Each code block's state line, by the key its Apply carries. */
const applyStates = new Map<string, HTMLElement>();
let blockCounter = 0;
/** Where the `@` that opened the context pick was typed. */
let atPosition: number | undefined;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

function div(cls: string, text = ''): HTMLDivElement {
  return el('div', `msg ${cls}`, text);
}

function button(label: string, onClick: () => void, cls = 'secondary'): HTMLButtonElement {
  const b = el('button', cls, label);
  b.onclick = onClick;
  return b;
}

function showApplyState(key: string, state: ApplyState, id?: string, detail?: string): void {
  const line = applyStates.get(key);
  if (line === undefined) return;
  if (state === 'review' && id !== undefined) {
    line.replaceChildren('review the diff: ',
      button('Accept', () => vscode.postMessage({ type: 'decide', id, accept: true }), 'accept'),
      ' ', button('Reject', () => vscode.postMessage({ type: 'decide', id, accept: false }), 'reject secondary'));
  } else {
    line.textContent = state === 'failed' ? `apply failed: ${detail ?? ''}` : state;
  }
}

/** Markdown → sanitised DOM; each fenced block gets its actions (the server's codeBlocks say which file). */
function renderMarkdown(target: HTMLElement, text: string, blocks: CodeBlock[] | undefined): void {
  target.innerHTML = DOMPurify.sanitize(md.render(text));
  if (blocks === undefined) return; // still streaming: actions come with the finished answer
  target.querySelectorAll('pre').forEach((pre, i) => {
    const code = pre.textContent ?? '';
    const block: CodeBlock = blocks[i] ?? { language: '', code };
    const key = `block-${(blockCounter += 1)}`;
    const box = el('div', 'codeblock');
    const actions = el('div', 'actions');
    const state = el('span', 'state');
    applyStates.set(key, state);
    actions.append(el('span', 'path', block.path ?? block.language),
      state,
      button('Apply', () => vscode.postMessage({ type: 'apply', block, key }), 'apply'),
      button('Insert', () => vscode.postMessage({ type: 'insert', code: block.code })),
      button('Copy', () => vscode.postMessage({ type: 'copy', code: block.code })));
    pre.replaceWith(box);
    box.append(actions, pre);
  });
}

function renderReasoning(text: string): HTMLElement {
  const d = el('details', 'reasoning');
  d.append(el('summary', '', 'Reasoning'), el('div', '', text));
  return d;
}

function renderNotes(notes: string[] | undefined): HTMLElement[] {
  return (notes ?? []).map((n) => el('div', 'note', n));
}

/** Each agent step: its text and its tool calls, one collapsible line each. */
function renderSteps(steps: StepView[], summary: string): HTMLElement {
  const box = el('div', 'steps');
  steps.forEach((step) => {
    const s = el('div', 'step');
    if (step.reasoning) s.append(renderReasoning(step.reasoning));
    if (step.text && step.text !== summary) renderMarkdown(s.appendChild(el('div', 'step-text')), step.text, []);
    for (const tool of step.tools) {
      const d = el('details', tool.ok ? 'tool' : 'tool failed');
      d.append(el('summary', '', tool.title), el('pre', '', tool.detail));
      s.append(d);
    }
    if (s.childElementCount) box.append(s);
  });
  return box;
}

function renderFiles(answer: Answer): HTMLElement | undefined {
  if (!answer.files?.length) return undefined;
  const box = el('div', 'files', 'Files:');
  const ul = el('ul');
  answer.files.forEach((f) => ul.append(el('li', '', `${f.action} ${f.path}${f.outcome ? ` — ${f.outcome}` : ''}`)));
  box.append(ul);
  if (answer.applied === true) box.append(el('div', 'applied', 'VS Code applied the edit.'));
  else if (answer.applied === false) box.append(el('div', 'applied', 'The edit was not applied (rejected in the review, or refused by the editor).'));
  return box;
}

function renderError(answerEl: HTMLElement, error: NonNullable<Answer['error']>): void {
  answerEl.classList.add('error');
  answerEl.append(el('div', 'cause', error.cause));
  if (error.fix) answerEl.append(el('div', 'fix', `Fix: ${error.fix}`));
  const buttons = el('div', 'answer-actions');
  for (const [label, command] of [...(ERROR_BUTTONS[error.code ?? ''] ?? []), ['Show Logs', UiCommand.showLogs]]) {
    buttons.append(button(label, () => vscode.postMessage({ type: 'command', command })));
  }
  answerEl.append(buttons);
}

function renderAnswer(answerEl: HTMLDivElement, statusEl: HTMLDivElement, answer: Answer): void {
  answerEl.replaceChildren(...renderNotes(answer.notes));
  if (answer.steps?.length) answerEl.append(renderSteps(answer.steps, answer.text));
  if (answer.text) renderMarkdown(answerEl.appendChild(el('div', 'body')), answer.text, answer.codeBlocks);
  const files = renderFiles(answer);
  if (files) answerEl.append(files);
  if (answer.error) {
    renderError(answerEl, answer.error);
    statusEl.textContent = 'error';
    return;
  }
  if (answer.checkpoint) {
    const checkpoint = answer.checkpoint;
    const restore = button('Restore', () =>
      vscode.postMessage({ type: 'command', command: UiCommand.restoreCheckpoint, args: [checkpoint] }), 'restore secondary');
    restore.title = 'Put the files back as they were before this answer (a checkpoint)';
    answerEl.appendChild(el('div', 'answer-actions')).append(restore);
  }
  statusEl.classList.add('footer');
  statusEl.textContent = answer.footer;
}

function addTurn(turn: Turn): { answer: HTMLDivElement; status: HTMLDivElement } {
  const user = log.appendChild(div('user', turn.prompt));
  if (turn.context?.length) user.append(el('span', 'ctx', `with ${turn.context.join(', ')}`));
  const answer = log.appendChild(div('assistant'));
  const status = log.appendChild(div('status', '…'));
  if (turn.answer) {
    if (turn.answer.reasoning) log.insertBefore(renderReasoning(turn.answer.reasoning), answer);
    renderAnswer(answer, status, turn.answer);
  }
  return { answer, status };
}

function setBusy(busy: boolean): void {
  sendBtn.disabled = busy;
  stopBtn.disabled = !busy;
}

function showModels(models: ModelEntry[]): void {
  const chosen = modelSel.value || (vscode.getState() as { model?: string } | undefined)?.model || '';
  modelSel.replaceChildren(Object.assign(el('option'), { value: '', textContent: 'Default model' }));
  const byProvider = new Map<string, ModelEntry[]>();
  for (const m of models.filter((m) => !m.builtin)) byProvider.set(m.provider, [...(byProvider.get(m.provider) ?? []), m]);
  for (const [provider, entries] of byProvider) {
    const group = el('optgroup');
    group.label = provider;
    for (const m of entries) {
      const noKey = m.hasKey === false;
      group.appendChild(Object.assign(el('option'), {
        value: m.id, textContent: noKey ? `${m.id} (no key)` : m.id,
        title: noKey ? `no key stored for ${provider}: BYOK: Set API Key` : `${m.id} on ${provider}`,
      }));
    }
    modelSel.appendChild(group);
  }
  modelSel.value = [...modelSel.options].some((o) => o.value === chosen) ? chosen : '';
}

function showChips(chips: Chip[]): void {
  chipsEl.replaceChildren(...chips.map((chip) => {
    const c = el('span', `chip ${chip.kind}${chip.auto ? ' auto' : ''}`, chip.label);
    c.title = chip.detail;
    c.dataset.id = chip.id;
    const remove = button('×', () => vscode.postMessage({ type: 'removeChip', id: chip.id }), 'remove');
    remove.title = `Remove ${chip.label}`;
    c.append(remove);
    return c;
  }), addContextBtn);
}

/** Render the live answer's current text block as markdown. */
function flushText(): void {
  if (live === undefined) return;
  clearTimeout(live.timer);
  live.timer = undefined;
  if (live.text) renderMarkdown(live.text, live.raw, undefined);
}

/** Stream text into the live answer, re-rendered as markdown at most every 30 ms. */
function streamText(text: string): void {
  if (live === undefined) return;
  live.raw += text;
  live.text ??= live.answer.appendChild(el('div', 'body'));
  live.timer ??= window.setTimeout(flushText, 30);
}

function send(): void {
  if (!input.value.trim() || sendBtn.disabled) return;
  vscode.postMessage({ type: 'send', text: input.value, mode: modeSel.value as Turn['mode'], model: modelSel.value || undefined });
  input.value = '';
}

sendBtn.onclick = send;
stopBtn.onclick = () => vscode.postMessage({ type: 'stop' });
$<HTMLButtonElement>('newChat').onclick = () => vscode.postMessage({ type: 'newChat' });
addContextBtn.onclick = () => vscode.postMessage({ type: 'addContext' });
modelSel.onchange = () => vscode.setState({ model: modelSel.value });
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    send();
  }
});
// `@` at the start of a word opens the context pick; the `@` goes away when something was added
input.addEventListener('input', (e) => {
  const at = input.selectionStart - 1;
  if ((e as InputEvent).data === '@' && (at === 0 || /\s/.test(input.value[at - 1]))) {
    atPosition = at;
    vscode.postMessage({ type: 'addContext' });
  }
});

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const m = event.data;
  if (m.type === 'prefill') {
    modeSel.value = m.mode;
    if (m.text) input.value = m.text;
    input.focus();
  } else if (m.type === 'models') {
    showModels(m.models);
  } else if (m.type === 'context') {
    showChips(m.chips);
  } else if (m.type === 'picked') {
    if (m.added && atPosition !== undefined && input.value[atPosition] === '@') {
      input.value = input.value.slice(0, atPosition) + input.value.slice(atPosition + 1);
      input.setSelectionRange(atPosition, atPosition);
    }
    atPosition = undefined;
    input.focus();
  } else if (m.type === 'applyState') {
    showApplyState(m.key, m.state, m.id, m.detail);
  } else if (m.type === 'history') {
    log.replaceChildren();
    applyStates.clear();
    m.turns.forEach(addTurn);
    setBusy(m.busy);
  } else if (m.type === 'start') {
    live = { ...addTurn(m.turn), raw: '' };
    setBusy(true);
  } else if (m.type === 'delta' && live) {
    if (m.kind === 'text') {
      streamText(m.text);
    } else if (m.kind === 'reasoning') {
      live.reasoning ??= log.insertBefore(renderReasoning(''), live.answer);
      const body = live.reasoning.lastElementChild as HTMLElement;
      body.textContent += m.text;
    } else {
      // a status note (a retry wait, a step's tool calls) goes inline; text after it starts a new block
      flushText();
      live.answer.append(el('div', 'note', m.text));
      live.text = undefined;
      live.raw = '';
    }
  } else if (m.type === 'end' && live) {
    flushText();
    if (m.answer) renderAnswer(live.answer, live.status, m.answer);
    else live.status.textContent = 'stopped';
    live = undefined;
    setBusy(false);
    input.focus();
  }
  window.scrollTo(0, document.body.scrollHeight);
});
vscode.postMessage({ type: 'ready' });
input.focus();
