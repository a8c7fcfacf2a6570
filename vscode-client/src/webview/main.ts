/**
 * The chat view's script (runs in the webview, bundled to dist/webview.js): markdown through markdown-it
 * (raw HTML off) and DOMPurify, code blocks with Apply / Insert / Copy, the model and mode pickers.
 */
import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';
import type { Answer, ToWebview, Turn } from '../chat';
import type { CodeBlock, ModelEntry } from '../protocol';

declare function acquireVsCodeApi(): { postMessage(msg: unknown): void; getState(): unknown; setState(s: unknown): void };

const vscode = acquireVsCodeApi();
const md = new MarkdownIt({ html: false, linkify: false });
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const log = $<HTMLDivElement>('log');
const input = $<HTMLTextAreaElement>('input');
const sendBtn = $<HTMLButtonElement>('send');
const stopBtn = $<HTMLButtonElement>('stop');
const modeSel = $<HTMLSelectElement>('mode');
const modelSel = $<HTMLSelectElement>('model');
const SET_KEY: [string, string] = ['Set API Key', 'byok.ui.setKey'];
const VERIFY: [string, string] = ['Verify', 'byok.ui.verifyKey'];
const SETTINGS: [string, string] = ['Open Settings', 'workbench.action.openSettings'];
/** The buttons an error code offers besides Show Logs (codes from protocol.md's error table). */
const ERROR_BUTTONS: Record<string, [string, string][]> = {
  invalid_key: [SET_KEY, VERIFY],
  key_rejected: [SET_KEY, VERIFY],
  no_model_access: [VERIFY, SETTINGS],
  key_missing: [SET_KEY],
  model_not_found: [SETTINGS],
  unknown_provider: [SETTINGS],
  proxy_invalid: [SETTINGS],
  ca_bundle_unreadable: [SETTINGS],
  budget_exceeded: [SETTINGS],
  budget_invalid: [SETTINGS],
};

let live: { answer: HTMLDivElement; reasoning?: HTMLElement; status: HTMLDivElement; text: string } | undefined;

function div(cls: string, text = ''): HTMLDivElement {
  const d = document.createElement('div');
  d.className = `msg ${cls}`;
  d.textContent = text;
  return d;
}

function button(label: string, onClick: () => void, cls = 'secondary'): HTMLButtonElement {
  const b = document.createElement('button');
  b.textContent = label;
  b.className = cls;
  b.onclick = onClick;
  return b;
}

/** Markdown → sanitised DOM; each fenced block gets its actions (the server's codeBlocks say which file). */
function renderMarkdown(target: HTMLElement, text: string, blocks: CodeBlock[]): void {
  target.innerHTML = DOMPurify.sanitize(md.render(text));
  target.querySelectorAll('pre').forEach((pre, i) => {
    const code = pre.textContent ?? '';
    const block: CodeBlock = blocks[i] ?? { language: '', code };
    const box = document.createElement('div');
    box.className = 'codeblock';
    const actions = document.createElement('div');
    actions.className = 'actions';
    const where = document.createElement('span');
    where.className = 'path';
    where.textContent = block.path ?? block.language;
    actions.append(where,
      button('Apply', () => vscode.postMessage({ type: 'apply', block }), 'apply'),
      button('Insert', () => vscode.postMessage({ type: 'insert', code: block.code })),
      button('Copy', () => vscode.postMessage({ type: 'copy', code: block.code })));
    pre.replaceWith(box);
    box.append(actions, pre);
  });
}

function renderReasoning(text: string): HTMLElement {
  const d = document.createElement('details');
  d.className = 'reasoning';
  const s = document.createElement('summary');
  s.textContent = 'Reasoning';
  const body = document.createElement('div');
  d.append(s, body);
  body.textContent = text;
  return d;
}

function renderAnswer(answerEl: HTMLDivElement, statusEl: HTMLDivElement, answer: Answer): void {
  if (answer.error) {
    answerEl.className = 'msg assistant error';
    answerEl.textContent = answer.error.cause;
    for (const [label, command] of [...(ERROR_BUTTONS[answer.error.code ?? ''] ?? []), ['Show Logs', 'byok.ui.showLogs']]) {
      answerEl.append(' ', button(label, () => vscode.postMessage({ type: 'command', command })));
    }
    statusEl.textContent = 'error';
    return;
  }
  renderMarkdown(answerEl, answer.text, answer.codeBlocks);
  if (answer.files?.length) {
    const ul = document.createElement('ul');
    answer.files.forEach((f) => ul.appendChild(Object.assign(document.createElement('li'), { textContent: f })));
    answerEl.appendChild(ul);
  }
  statusEl.classList.add('footer');
  statusEl.textContent = answer.footer;
}

function addTurn(turn: Turn): { answer: HTMLDivElement; status: HTMLDivElement } {
  log.appendChild(div('user', turn.prompt));
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
  modelSel.replaceChildren(Object.assign(document.createElement('option'), { value: '', textContent: 'Default model' }));
  const byProvider = new Map<string, ModelEntry[]>();
  for (const m of models.filter((m) => !m.builtin)) byProvider.set(m.provider, [...(byProvider.get(m.provider) ?? []), m]);
  for (const [provider, entries] of byProvider) {
    const group = document.createElement('optgroup');
    group.label = provider;
    for (const m of entries) {
      const noKey = m.hasKey === false;
      group.appendChild(Object.assign(document.createElement('option'), {
        value: m.id, textContent: noKey ? `${m.id} (no key)` : m.id,
        title: noKey ? `no key stored for ${provider}: BYOK: Set API Key` : `${m.id} on ${provider}`,
      }));
    }
    modelSel.appendChild(group);
  }
  modelSel.value = [...modelSel.options].some((o) => o.value === chosen) ? chosen : '';
}

function send(): void {
  if (!input.value.trim() || sendBtn.disabled) return;
  vscode.postMessage({ type: 'send', text: input.value, mode: modeSel.value, model: modelSel.value || undefined });
  input.value = '';
}

sendBtn.onclick = send;
stopBtn.onclick = () => vscode.postMessage({ type: 'stop' });
$<HTMLButtonElement>('newChat').onclick = () => vscode.postMessage({ type: 'newChat' });
modelSel.onchange = () => vscode.setState({ model: modelSel.value });
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    send();
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
  } else if (m.type === 'history') {
    log.replaceChildren();
    m.turns.forEach(addTurn);
    setBusy(m.busy);
  } else if (m.type === 'start') {
    live = { ...addTurn(m.turn), text: '' };
    setBusy(true);
  } else if (m.type === 'delta' && live) {
    const text = m.text;
    if (m.kind === 'text') {
      live.text += text;
      live.answer.textContent = live.text;
    } else if (m.kind === 'reasoning') {
      live.reasoning ??= log.insertBefore(renderReasoning(''), live.answer);
      const body = live.reasoning.lastElementChild as HTMLElement;
      body.textContent += text;
    } else {
      live.status.textContent = text;
    }
  } else if (m.type === 'end' && live) {
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
