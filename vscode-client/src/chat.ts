import * as vscode from 'vscode';
import { errorOf, type Answer } from './answers';
import { ChatContext, withSelection, type Chip } from './chatContext';
import { UiCommand, type CodeBlock, type Delta, type ModelEntry } from './protocol';
import type { Verdict } from './proposal';
import { describeError, errorData, isCancellation, nonce } from './util';

/** Ask runs byok.chat, Edit runs byok.composer, Agent runs byok.agent. */
export type ChatMode = 'ask' | 'edit' | 'agent';

export interface Turn {
  mode: ChatMode;
  prompt: string;
  /** The labels of the context chips sent with it. */
  context?: string[];
  /** What was sent: the prompt with the selection. */
  sent?: string;
  answer?: Answer;
}

export interface ChatRequest {
  messages: { role: string; content: string }[];
  model?: string;
  /** Workspace file uris and `mcp://` resource entries. */
  files: string[];
}

/** What the view needs from the extension: the server's commands, nothing about the webview. */
export interface ChatBackend {
  run(mode: ChatMode, request: ChatRequest, token: vscode.CancellationToken, onDelta: (delta: Delta) => void): Promise<Answer>;
  models(): Promise<ModelEntry[]>;
  /** Show what Apply makes of `block` as a diff to accept or reject. */
  propose(block: CodeBlock): Promise<{ id: string; verdict: Promise<Verdict> }>;
  decide(id: string, accept: boolean): Promise<void>;
}

/** How far an Apply got: the diff is open (`review`), then the user's verdict, or why it failed. */
export type ApplyState = 'review' | Verdict | 'failed';

/** Messages the extension posts to the chat view's script. */
export type ToWebview =
  | { type: 'prefill'; mode: ChatMode; text: string }
  | { type: 'models'; models: ModelEntry[] }
  | { type: 'history'; turns: Turn[]; busy: boolean }
  | { type: 'start'; turn: Turn }
  | { type: 'delta'; kind: Delta['type']; text: string }
  | { type: 'end'; answer?: Answer; stopped?: boolean }
  | { type: 'context'; chips: Chip[] }
  | { type: 'picked'; added: boolean }
  | { type: 'applyState'; key: string; state: ApplyState; id?: string; detail?: string };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; text: string; mode: ChatMode; model?: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'apply'; block: CodeBlock; key: string }
  | { type: 'decide'; id: string; accept: boolean }
  | { type: 'insert'; code: string }
  | { type: 'copy'; code: string }
  | { type: 'removeChip'; id: string }
  | { type: 'addContext' }
  | { type: 'command'; command: string; args?: string[] };

const HISTORY_KEY = 'byok.chat.history.v2';
/** Turns kept per workspace: the newest ones, so the stored state stays small. */
const MAX_TURNS = 50;
/** Commands the view's buttons may run (an error's fixes, a checkpoint's Restore); a string argument at most. */
const VIEW_ACTIONS = new Set([UiCommand.setKey, UiCommand.verifyKey, UiCommand.bindKey, UiCommand.showLogs,
  'workbench.action.openSettings', UiCommand.restoreCheckpoint]);

/** The chat view (a WebviewView in byok's activity-bar container); its history lives in workspaceState. */
export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'byok.chatView';
  private view: vscode.WebviewView | undefined;
  /** Whether the view's script said `ready`: until then a message to it may be lost. */
  private ready = false;
  /** The mode and text a command asked for while the view was loading: sent once it is ready. */
  private pendingPrefill: ToWebview | undefined;
  private running: vscode.CancellationTokenSource | undefined;
  /** The running answer's notes (status deltas and the extension's own). */
  private liveNotes: string[] | undefined;
  private turns: Turn[];
  private readonly contextSubscription: vscode.Disposable;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly backend: ChatBackend,
    private readonly chatContext: ChatContext,
  ) {
    this.turns = context.workspaceState.get<Turn[]>(HISTORY_KEY, []);
    this.contextSubscription = chatContext.onDidChange((chips) => this.post({ type: 'context', chips }));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const media = vscode.Uri.joinPath(this.context.extensionUri, 'dist');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = html(view.webview, vscode.Uri.joinPath(media, 'webview.js'), nonce());
    view.webview.onDidReceiveMessage((msg: FromWebview) => void this.handle(msg));
    view.onDidDispose(() => {
      this.view = undefined;
      this.ready = false;
    });
  }

  /** Reveal the view in `mode`; `prefill` goes into its input box. */
  async show(mode: ChatMode, prefill?: string): Promise<void> {
    // a view not loaded yet (or still loading) gets the mode once its script says `ready`
    this.pendingPrefill = { type: 'prefill', mode, text: prefill ?? '' };
    await vscode.commands.executeCommand(`${ChatViewProvider.viewId}.focus`);
    if (this.ready) this.flushPrefill();
  }

  private flushPrefill(): void {
    if (this.pendingPrefill === undefined) return;
    this.post(this.pendingPrefill);
    this.pendingPrefill = undefined;
  }

  /** A note in the running answer (a question the server withdrew); nothing when no run is live or it was
   * stopped (the server withdraws its questions then, and that is no news). */
  note(text: string): void {
    if (this.liveNotes === undefined || this.running?.token.isCancellationRequested) return;
    this.liveNotes.push(text);
    this.post({ type: 'delta', kind: 'status', text });
  }

  /** Stop what runs and forget this workspace's conversation and the added context. */
  async newChat(): Promise<void> {
    this.running?.cancel();
    this.turns = [];
    this.chatContext.reset();
    await this.save();
    this.post({ type: 'history', turns: [], busy: false });
  }

  private post(msg: ToWebview): void {
    void this.view?.webview.postMessage(msg);
  }

  private async handle(msg: FromWebview): Promise<void> {
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        this.post({ type: 'history', turns: this.turns, busy: this.running !== undefined });
        this.post({ type: 'context', chips: this.chatContext.chips() });
        this.flushPrefill();
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
        await this.apply(msg.block, msg.key);
        return;
      case 'decide':
        await this.backend.decide(msg.id, msg.accept).catch((err: unknown) => {
          void vscode.window.showErrorMessage(`byok: ${describeError(err)}`);
        });
        return;
      case 'insert':
        await insertAtCursor(msg.code);
        return;
      case 'copy':
        await vscode.env.clipboard.writeText(msg.code);
        return;
      case 'removeChip':
        this.chatContext.remove(msg.id);
        return;
      case 'addContext':
        this.post({ type: 'picked', added: await this.chatContext.pick() });
        return;
      case 'command':
        if (VIEW_ACTIONS.has(msg.command)) {
          const args = msg.command.includes('openSettings') ? ['byok'] : (msg.args ?? []).filter((a) => typeof a === 'string');
          await Promise.resolve(vscode.commands.executeCommand(msg.command, ...args)).catch((err: unknown) => {
            void vscode.window.showErrorMessage(`byok: ${describeError(err)}`);
          });
        }
        return;
    }
  }

  /** Apply's result as a diff; the block's state follows the user's verdict. */
  private async apply(block: CodeBlock, key: string): Promise<void> {
    try {
      const { id, verdict } = await this.backend.propose(block);
      this.post({ type: 'applyState', key, state: 'review', id });
      this.post({ type: 'applyState', key, state: await verdict });
    } catch (err) {
      const detail = describeError(err);
      this.post({ type: 'applyState', key, state: 'failed', detail });
      void vscode.window.showErrorMessage(`byok: apply failed: ${detail}`);
    }
  }

  private async save(): Promise<void> {
    this.turns = this.turns.slice(-MAX_TURNS);
    await this.context.workspaceState.update(HISTORY_KEY, this.turns);
  }

  /** The conversation so far as chat messages (Ask turns only carry over; edits and agent runs are summaries). */
  private messages(content: string): { role: string; content: string }[] {
    const past = this.turns.filter((t) => t.mode === 'ask' && t.answer && !t.answer.error).flatMap((t) => [
      { role: 'user', content: t.sent ?? t.prompt },
      { role: 'assistant', content: t.answer?.text ?? '' },
    ]);
    return [...past, { role: 'user', content }];
  }

  private async send(prompt: string, mode: ChatMode, model?: string): Promise<void> {
    const cts = new vscode.CancellationTokenSource();
    this.running = cts;
    const context = this.chatContext.request();
    const sent = withSelection(prompt, context.selection);
    const turn: Turn = { mode, prompt, context: context.labels, sent };
    const notes: string[] = [];
    this.liveNotes = notes;
    this.post({ type: 'start', turn });
    try {
      const answer = await this.backend.run(mode, { messages: this.messages(sent), model, files: context.files },
        cts.token, (delta) => {
          if (cts.token.isCancellationRequested) return;
          if (delta.type === 'status') notes.push(delta.text);
          this.post({ type: 'delta', kind: delta.type, text: delta.text });
        });
      turn.answer = { ...answer, notes };
      this.turns.push(turn);
      await this.save();
      this.post({ type: 'end', answer: turn.answer });
    } catch (err) {
      if (isCancellation(err) || cts.token.isCancellationRequested) {
        this.post({ type: 'end', stopped: true });
      } else {
        const obj = (err ?? {}) as { message?: unknown };
        this.post({ type: 'end', answer: { text: '', footer: '', codeBlocks: [], notes,
          error: errorOf(errorData(err), String(obj.message ?? err)) } });
      }
    } finally {
      this.running = undefined;
      this.liveNotes = undefined;
      cts.dispose();
    }
  }

  dispose(): void {
    this.running?.cancel();
    this.contextSubscription.dispose();
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
  .msg.user .ctx { display: block; opacity: .7; font-size: 85%; margin-top: 4px; white-space: normal; }
  .msg.assistant { border-left: 2px solid var(--vscode-focusBorder); }
  .msg.status, .msg.footer { opacity: .75; font-size: 90%; }
  .msg.error { border-left: 2px solid var(--vscode-errorForeground); }
  .msg.error .fix { margin: 4px 0; }
  .note { opacity: .75; font-size: 90%; font-style: italic; margin: 2px 0; }
  .note::before { content: "» "; }
  details.reasoning { opacity: .75; font-style: italic; white-space: pre-wrap; margin: 4px 0; }
  details.tool { margin: 2px 0; font-size: 92%; }
  details.tool summary { cursor: pointer; font-family: var(--vscode-editor-font-family); }
  details.tool.failed summary { color: var(--vscode-errorForeground); }
  details.tool pre { white-space: pre-wrap; max-height: 16em; }
  .step { margin: 4px 0; }
  .files { margin: 6px 0 2px; }
  .files ul { margin: 2px 0; padding-left: 18px; }
  .applied { opacity: .8; font-size: 90%; }
  .answer-actions { margin-top: 6px; display: flex; gap: 4px; }
  pre { background: var(--vscode-textCodeBlock-background); padding: 6px; overflow-x: auto; margin: 0; }
  code { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  .codeblock { margin: 6px 0; border: 1px solid var(--vscode-panel-border, transparent); }
  .codeblock .actions { display: flex; flex-wrap: wrap; gap: 4px; padding: 2px; font-size: 85%; align-items: center; }
  .codeblock .path { flex: 1; opacity: .75; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .codeblock .state { order: 10; flex-basis: 100%; font-style: italic; }
  .codeblock .state:empty { display: none; }
  #chips { display: flex; flex-wrap: wrap; gap: 4px; margin: 4px 0; align-items: center; }
  .chip { display: inline-flex; align-items: center; gap: 2px; padding: 0 2px 0 6px; border-radius: 3px; font-size: 90%;
    color: var(--vscode-badge-foreground); background: var(--vscode-badge-background); }
  .chip.auto { opacity: .85; font-style: italic; }
  .chip button { background: transparent; color: inherit; padding: 0 4px; }
  #addContext { padding: 0 6px; }
  textarea { width: 100%; box-sizing: border-box; min-height: 4em; font-family: inherit;
    color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, transparent); }
  button { white-space: nowrap; color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: 0; padding: 3px 9px; cursor: pointer; }
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
<div id="chips"><button id="addContext" class="secondary" title="Add files or MCP resources (or type @)">+</button></div>
<textarea id="input" placeholder="Ask byok… (@ adds context, Ctrl+Enter sends)"></textarea>
<div id="buttons"><button id="send">Send</button><button id="stop" class="secondary" disabled>Stop</button>
<button id="newChat" class="secondary">New chat</button></div>
<script nonce="${n}" src="${webview.asWebviewUri(script).toString()}"></script>
</body></html>`;
}
