import * as vscode from 'vscode';
import type { ChatResult, CodeBlock, Delta, ModelEntry, Usage } from './protocol';
import { describeError, errorData, isCancellation, nonce } from './util';

/** Ask runs byok.chat, Edit runs byok.composer, Agent runs byok.agent. */
export type ChatMode = 'ask' | 'edit' | 'agent';

/** One finished answer as the view shows it (and keeps in the workspace's history). */
export interface Answer {
  text: string;
  reasoning?: string;
  footer: string;
  codeBlocks: CodeBlock[];
  files?: string[];
  /** Composer/agent: the checkpoint of the files before the run (Restore passes it to byok.ui.restoreCheckpoint). */
  checkpoint?: string;
  error?: { cause: string; fix?: string; code?: string };
}

export interface Turn {
  mode: ChatMode;
  prompt: string;
  answer?: Answer;
}

/** What the view needs from the extension: the server's commands, nothing about the webview. */
export interface ChatBackend {
  run(mode: ChatMode, request: { messages: { role: string; content: string }[]; model?: string },
    token: vscode.CancellationToken, onDelta: (delta: Delta) => void): Promise<Answer>;
  models(): Promise<ModelEntry[]>;
  apply(block: CodeBlock): Promise<void>;
}

/** Messages the extension posts to the chat view's script. */
export type ToWebview =
  | { type: 'prefill'; mode: ChatMode; text: string }
  | { type: 'models'; models: ModelEntry[] }
  | { type: 'history'; turns: Turn[]; busy: boolean }
  | { type: 'start'; turn: Turn }
  | { type: 'delta'; kind: Delta['type']; text: string }
  | { type: 'end'; answer?: Answer; stopped?: boolean };

type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; text: string; mode: ChatMode; model?: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'apply'; block: CodeBlock }
  | { type: 'insert'; code: string }
  | { type: 'copy'; code: string }
  | { type: 'command'; command: string };

const HISTORY_KEY = 'byok.chat.history';
/** Turns kept per workspace: the newest ones, so the stored state stays small. */
const MAX_TURNS = 50;
/** Commands an error's buttons may run. */
const ERROR_ACTIONS = new Set(['byok.ui.setKey', 'byok.ui.verifyKey', 'byok.ui.showLogs', 'workbench.action.openSettings']);

/** The chat view (a WebviewView in byok's activity-bar container); its history lives in workspaceState. */
export class ChatViewProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'byok.chatView';
  private view: vscode.WebviewView | undefined;
  private running: vscode.CancellationTokenSource | undefined;
  private turns: Turn[];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly backend: ChatBackend,
  ) {
    this.turns = context.workspaceState.get<Turn[]>(HISTORY_KEY, []);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.context.extensionUri, 'dist');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = html(view.webview, vscode.Uri.joinPath(media, 'webview.js'), nonce());
    view.webview.onDidReceiveMessage((msg: FromWebview) => void this.handle(msg));
    view.onDidDispose(() => {
      this.view = undefined;
    });
  }

  /** Reveal the view in `mode`; `prefill` goes into its input box. */
  async show(mode: ChatMode, prefill?: string): Promise<void> {
    await vscode.commands.executeCommand(`${ChatViewProvider.viewId}.focus`);
    this.post({ type: 'prefill', mode, text: prefill ?? '' });
  }

  /** Stop what runs and forget this workspace's conversation. */
  async newChat(): Promise<void> {
    this.running?.cancel();
    this.turns = [];
    await this.save();
    this.post({ type: 'history', turns: [], busy: false });
  }

  private post(msg: ToWebview): void {
    void this.view?.webview.postMessage(msg);
  }

  private async handle(msg: FromWebview): Promise<void> {
    switch (msg.type) {
      case 'ready':
        this.post({ type: 'history', turns: this.turns, busy: this.running !== undefined });
        this.post({ type: 'models', models: await this.backend.models().catch(() => []) });
        return;
      case 'send':
        if (msg.text.trim() && this.running === undefined) await this.send(msg.text.trim(), msg.mode, msg.model);
        return;
      case 'stop':
        this.running?.cancel();
        return;
      case 'newChat':
        await this.newChat();
        return;
      case 'apply':
        await this.backend.apply(msg.block).catch((err: unknown) => {
          void vscode.window.showErrorMessage(`byok: apply failed: ${describeError(err)}`);
        });
        return;
      case 'insert':
        await insertAtCursor(msg.code);
        return;
      case 'copy':
        await vscode.env.clipboard.writeText(msg.code);
        return;
      case 'command':
        if (ERROR_ACTIONS.has(msg.command)) {
          await vscode.commands.executeCommand(msg.command, ...(msg.command.includes('openSettings') ? ['byok'] : []));
        }
        return;
    }
  }

  private async save(): Promise<void> {
    this.turns = this.turns.slice(-MAX_TURNS);
    await this.context.workspaceState.update(HISTORY_KEY, this.turns);
  }

  /** The conversation so far as chat messages (Ask turns only carry over; edits and agent runs are summaries). */
  private messages(prompt: string): { role: string; content: string }[] {
    const past = this.turns.filter((t) => t.mode === 'ask' && t.answer && !t.answer.error).flatMap((t) => [
      { role: 'user', content: t.prompt },
      { role: 'assistant', content: t.answer?.text ?? '' },
    ]);
    return [...past, { role: 'user', content: prompt }];
  }

  private async send(prompt: string, mode: ChatMode, model?: string): Promise<void> {
    const cts = new vscode.CancellationTokenSource();
    this.running = cts;
    const turn: Turn = { mode, prompt };
    this.post({ type: 'start', turn });
    try {
      turn.answer = await this.backend.run(mode, { messages: this.messages(prompt), model }, cts.token, (delta) => {
        if (!cts.token.isCancellationRequested) this.post({ type: 'delta', kind: delta.type, text: delta.text });
      });
      this.turns.push(turn);
      await this.save();
      this.post({ type: 'end', answer: turn.answer });
    } catch (err) {
      if (isCancellation(err) || cts.token.isCancellationRequested) {
        this.post({ type: 'end', stopped: true });
      } else {
        const data = errorData(err);
        this.post({ type: 'end', answer: { text: '', footer: '', codeBlocks: [],
          error: { cause: describeError(err), fix: data.fix, code: data.code } } });
      }
    } finally {
      this.running = undefined;
      cts.dispose();
    }
  }
}

async function insertAtCursor(code: string): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (editor === undefined) {
    void vscode.window.showWarningMessage('byok: open a file to insert the code block into');
    return;
  }
  await editor.edit((b) => b.replace(editor.selection, code));
}

/** "fake-model · 1200 in (1024 cached) / 80 out tokens · $0.0042" */
export function describeUsage(model: string | undefined, usage: Usage | undefined): string {
  const parts = model ? [model] : [];
  if (usage) {
    const cached = usage.cacheReadTokens ? ` (${usage.cacheReadTokens} cached)` : '';
    const reasoning = usage.reasoningTokens ? `, ${usage.reasoningTokens} reasoning` : '';
    parts.push(`${usage.inputTokens ?? 0} in${cached} / ${usage.outputTokens ?? 0} out tokens${reasoning}${
      usage.estimated ? ' (estimated)' : ''}`);
    parts.push(typeof usage.costUsd === 'number' ? `$${usage.costUsd.toFixed(4)}` : 'cost unknown');
    if (typeof usage.savedUsd === 'number' && usage.savedUsd !== 0) {
      parts.push(`caching saved $${usage.savedUsd.toFixed(4)}`);
    }
  }
  return parts.join(' · ');
}

export function chatAnswer(result: ChatResult): Answer {
  return {
    text: result.text,
    reasoning: result.reasoning,
    footer: describeUsage(result.model, result.usage),
    codeBlocks: result.codeBlocks ?? [],
  };
}

function html(webview: vscode.Webview, script: vscode.Uri, n: string): string {
  const csp = `default-src 'none'; img-src ${webview.cspSource} data:; style-src ${webview.cspSource} 'unsafe-inline'; ` +
    `script-src 'nonce-${n}';`;
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<style>
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 8px; }
  #bar { display: flex; gap: 4px; margin: 6px 0; }
  #bar select { flex: 1; min-width: 0; color: var(--vscode-dropdown-foreground); background: var(--vscode-dropdown-background);
    border: 1px solid var(--vscode-dropdown-border, transparent); }
  .msg { margin: 8px 0; padding: 6px 8px; border-radius: 4px; overflow-wrap: anywhere; }
  .msg.user { white-space: pre-wrap; background: var(--vscode-editor-inactiveSelectionBackground); }
  .msg.assistant { border-left: 2px solid var(--vscode-focusBorder); }
  .msg.status, .msg.footer { opacity: .75; font-size: 90%; }
  .msg.error { border-left: 2px solid var(--vscode-errorForeground); }
  details.reasoning { opacity: .75; font-style: italic; white-space: pre-wrap; }
  pre { background: var(--vscode-textCodeBlock-background); padding: 6px; overflow-x: auto; margin: 0; }
  code { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  .codeblock { margin: 6px 0; border: 1px solid var(--vscode-panel-border, transparent); }
  .codeblock .actions { display: flex; gap: 4px; padding: 2px; font-size: 85%; }
  .codeblock .path { flex: 1; opacity: .75; }
  textarea { width: 100%; box-sizing: border-box; min-height: 4em; font-family: inherit;
    color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, transparent); }
  button { color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: 0; padding: 3px 9px; cursor: pointer; }
  button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
  button:disabled { opacity: .5; }
  #buttons { display: flex; gap: 4px; margin: 4px 0; }
</style></head>
<body>
<div id="bar">
  <select id="mode" title="Mode"><option value="ask">Ask</option><option value="edit">Edit</option><option value="agent">Agent</option></select>
  <select id="model" title="Model"><option value="">Default model</option></select>
</div>
<div id="log"></div>
<textarea id="input" placeholder="Ask byok… (Ctrl+Enter to send)"></textarea>
<div id="buttons"><button id="send">Send</button><button id="stop" class="secondary" disabled>Stop</button>
<button id="newChat" class="secondary">New chat</button></div>
<script nonce="${n}" src="${webview.asWebviewUri(script).toString()}"></script>
</body></html>`;
}
