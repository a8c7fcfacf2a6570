import * as vscode from 'vscode';
import type { ChatResult, Delta, Usage } from './protocol';
import { describeError, isCancellation, nonce } from './util';

export interface ChatBackend {
  chat(
    messages: { role: string; content: string }[],
    token: vscode.CancellationToken,
    onDelta: (delta: Delta) => void,
  ): Promise<ChatResult>;
  apply(code: string): Promise<void>;
}

type FromWebview = { type: 'send'; text: string } | { type: 'stop' } | { type: 'apply'; code: string };

/** A webview panel: type a message, watch `byok/stream` deltas arrive, Stop cancels the request. */
export class ChatPanel {
  private static current: ChatPanel | undefined;
  private readonly history: { role: string; content: string }[] = [];
  private running: vscode.CancellationTokenSource | undefined;

  static show(backend: ChatBackend, prefill?: string): void {
    if (ChatPanel.current === undefined) {
      const panel = vscode.window.createWebviewPanel('byok.chatPanel', 'BYOK Chat', vscode.ViewColumn.Beside, {
        enableScripts: true,
        retainContextWhenHidden: true,
      });
      ChatPanel.current = new ChatPanel(panel, backend);
    }
    ChatPanel.current.panel.reveal();
    if (prefill) {
      void ChatPanel.current.panel.webview.postMessage({ type: 'prefill', text: prefill });
    }
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly backend: ChatBackend,
  ) {
    panel.webview.html = html(nonce());
    panel.onDidDispose(() => {
      this.running?.cancel();
      ChatPanel.current = undefined;
    });
    panel.webview.onDidReceiveMessage((msg: FromWebview) => {
      if (msg.type === 'send' && msg.text.trim() && this.running === undefined) {
        void this.send(msg.text.trim());
      } else if (msg.type === 'stop') {
        this.running?.cancel();
      } else if (msg.type === 'apply') {
        this.backend.apply(msg.code).catch((err: unknown) => {
          void vscode.window.showErrorMessage(`byok: apply failed: ${describeError(err)}`);
        });
      }
    });
  }

  private post(msg: Record<string, unknown>): void {
    void this.panel.webview.postMessage(msg);
  }

  private async send(text: string): Promise<void> {
    const cts = new vscode.CancellationTokenSource();
    this.running = cts;
    this.history.push({ role: 'user', content: text });
    this.post({ type: 'start', text });
    let stopped = false;
    cts.token.onCancellationRequested(() => {
      stopped = true;
      this.post({ type: 'end', status: 'stopped' });
    });
    try {
      const result = await this.backend.chat(this.history, cts.token, (delta) => {
        if (!stopped) {
          this.post({ type: 'delta', kind: delta.type, text: delta.text });
        }
      });
      this.history.push({ role: 'assistant', content: result.text });
      const usage = result.usage ? ` · ${describeUsage(result.usage)}` : '';
      this.post({ type: 'end', status: `${result.model ?? ''}${usage}`, text: result.text });
    } catch (err) {
      this.history.pop();
      if (!stopped) {
        this.post({ type: 'end', status: isCancellation(err) ? 'stopped' : `error: ${describeError(err)}` });
      }
    } finally {
      this.running = undefined;
      cts.dispose();
    }
  }
}

/** "1200 in (1024 from cache) / 80 out tokens · $0.0042, caching saved $0.0031" */
function describeUsage(usage: Usage): string {
  const cached = usage.cacheReadTokens ? ` (${usage.cacheReadTokens} from cache)` : '';
  let text = `${usage.inputTokens ?? 0} in${cached} / ${usage.outputTokens ?? 0} out tokens`;
  if (typeof usage.costUsd === 'number') {
    text += ` · $${usage.costUsd.toFixed(4)}`;
  }
  if (typeof usage.savedUsd === 'number' && usage.savedUsd !== 0) {
    text += `, caching saved $${usage.savedUsd.toFixed(4)}`;
  }
  return text;
}

function html(n: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${n}';">
<style>
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 8px; }
  #log .msg { white-space: pre-wrap; margin: 8px 0; padding: 6px 8px; border-radius: 4px; }
  #log .user { background: var(--vscode-editor-inactiveSelectionBackground); }
  #log .assistant { border-left: 2px solid var(--vscode-focusBorder); }
  #log .reasoning { opacity: .7; font-style: italic; }
  #log .status { opacity: .7; font-size: 90%; }
  textarea { width: 100%; box-sizing: border-box; min-height: 4em; font-family: inherit;
    color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, transparent); }
  button { margin: 4px 4px 0 0; color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: 0; padding: 4px 10px; }
  button:disabled { opacity: .5; }
</style></head>
<body>
<div id="log"></div>
<textarea id="input" placeholder="Ask byok… (Ctrl+Enter to send)"></textarea>
<button id="send">Send</button><button id="stop" disabled>Stop</button>
<script nonce="${n}">
  const vscode = acquireVsCodeApi();
  const log = document.getElementById('log'), input = document.getElementById('input');
  const sendBtn = document.getElementById('send'), stopBtn = document.getElementById('stop');
  let answer, reasoning, status;
  function el(cls, text) { const d = document.createElement('div'); d.className = 'msg ' + cls; d.textContent = text || ''; log.appendChild(d); return d; }
  function send() { if (input.value.trim() && !sendBtn.disabled) { vscode.postMessage({ type: 'send', text: input.value }); input.value = ''; } }
  sendBtn.onclick = send;
  stopBtn.onclick = () => vscode.postMessage({ type: 'stop' });
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); } });
  window.addEventListener('message', (event) => {
    const m = event.data;
    if (m.type === 'prefill') { input.value = m.text; input.focus(); }
    if (m.type === 'start') {
      el('user', m.text); reasoning = undefined; answer = el('assistant'); status = el('status', '…');
      sendBtn.disabled = true; stopBtn.disabled = false;
    }
    if (m.type === 'delta' && answer) {
      if (m.kind === 'text') answer.textContent += m.text;
      else if (m.kind === 'reasoning') { reasoning = reasoning || log.insertBefore(el('reasoning'), answer); reasoning.textContent += m.text; }
      else status.textContent = m.text;
    }
    if (m.type === 'end' && answer) {
      if (m.text !== undefined && m.text !== answer.textContent) answer.textContent = m.text;
      status.textContent = m.status;
      const blocks = [...answer.textContent.matchAll(/\`\`\`[^\\n]*\\n([\\s\\S]*?)\`\`\`/g)];
      blocks.forEach((b, i) => { const btn = document.createElement('button'); btn.textContent = 'Apply block ' + (i + 1);
        btn.onclick = () => vscode.postMessage({ type: 'apply', code: b[1] }); status.appendChild(btn); });
      answer = undefined; sendBtn.disabled = false; stopBtn.disabled = true; input.focus();
    }
    log.scrollTop = log.scrollHeight; window.scrollTo(0, document.body.scrollHeight);
  });
  input.focus();
</script></body></html>`;
}
