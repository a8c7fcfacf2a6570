import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  Trace,
  type LanguageClientOptions,
  type ServerOptions,
  type WorkspaceEdit,
} from 'vscode-languageclient/node';
import { ModalAsks } from './asks';
import { chatAnswer, type Answer } from './answers';
import { ChatViewProvider, type ChatBackend, type ChatMode, type ChatRequest } from './chat';
import { ChatContext } from './chatContext';
import { Checkpoints } from './checkpoints';
import { McpServers } from './mcp';
import { PROPOSAL_COMMANDS, Proposals, type Proposal } from './proposal';
import {
  Command,
  Notification,
  UiCommand,
  type BindKeyResult,
  type CodeBlock,
  type ChatResult,
  type CommandId,
  type Delta,
  type DeleteKeyResult,
  type EditResult,
  type McpStatusResult,
  type ModelEntry,
  type SetKeyResult,
  type StoredKey,
  type StreamParams,
  type VerifyKeyResult,
} from './protocol';
import { INLINE_COMMAND, InlineEditController, type InlineEditBackend } from './inlineEdit';
import { STATUS_MENU_COMMAND, StatusBar } from './statusBar';
import { EditReview, staleVersion } from './review';
import { Runs } from './runs';
import { WalkthroughStep, stepDone } from './walkthrough';
import {
  BUILTIN_PROVIDERS,
  byokSettings,
  describeError,
  findExecutable,
  isCancellation,
  nonce,
  resolveServerCommand,
} from './util';

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let statusBar: StatusBar;
/** How many times Apply is asked again when the file changes while it runs. */
const APPLY_ATTEMPTS = 3;
const streams = new Map<string, (delta: Delta) => void>();
let lastEditor: vscode.TextEditor | undefined;
const review = new EditReview();
const asks = new ModalAsks();
let proposals: Proposals;

/** The editor a command acts on: the active one, else the last one used (a webview may have focus). */
function targetEditor(): vscode.TextEditor | undefined {
  return vscode.window.activeTextEditor
    ?? vscode.window.visibleTextEditors.find((e) => e.document === lastEditor?.document);
}

/** Run a server command through `workspace/executeCommand` with its ONE object argument. */
async function exec<T>(command: CommandId, args: object, token?: vscode.CancellationToken): Promise<T> {
  if (client === undefined || !client.isRunning()) {
    throw new Error('the byok server is not running (BYOK: Show Logs, then BYOK: Restart Server)');
  }
  const params = { command, arguments: [args] };
  return (token ? client.sendRequest(ExecuteCommandRequest.type, params, token)
    : client.sendRequest(ExecuteCommandRequest.type, params)) as Promise<T>;
}

/** Run a streaming command: `byok/stream` deltas with our streamId go to onDelta. */
async function execStreaming<T>(command: CommandId, args: object, token: vscode.CancellationToken,
  onDelta: (delta: Delta) => void): Promise<T> {
  const streamId = nonce();
  streams.set(streamId, onDelta);
  try {
    return await exec<T>(command, { ...args, streamId }, token);
  } finally {
    streams.delete(streamId);
  }
}

async function startClient(): Promise<void> {
  const cfg = vscode.workspace.getConfiguration('byok');
  const server = resolveServerCommand(cfg);
  output.appendLine(`[byok] starting ${[server.command, ...server.args].join(' ')} (from ${server.source})`);
  if (findExecutable(server.command) === undefined) {
    return startFailed(`${server.command} not found (from ${server.source}). Install the byok server (pip install byok) ` +
      `or point byok.server.command at it.`);
  }
  const serverOptions: ServerOptions = { command: server.command, args: server.args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    initializationOptions: { byok: byokSettings() },
    synchronize: { configurationSection: 'byok' },
    initializationFailedHandler: (err) => {
      void startFailed(describeError(err));
      return false;
    },
  };
  client = new LanguageClient('byok', 'byok', serverOptions, clientOptions);
  client.registerProposedFeatures(); // textDocument/inlineCompletion: Tab ghost text from the built-in model
  asks.register(client);
  review.register(client);
  client.onNotification(Notification.stream, (p: StreamParams) => {
    if (p.streamId !== undefined && p.delta !== undefined) {
      streams.get(p.streamId)?.(p.delta);
    }
  });
  try {
    await client.start();
  } catch (err) {
    return startFailed(describeError(err));
  }
  void refreshStatus();
  void exec<StoredKey[]>(Command.listKeys, {}).then((keys) => keys.length > 0 && stepDone(WalkthroughStep.keySet),
    () => undefined);
}

async function startFailed(reason: string): Promise<void> {
  output.appendLine(`[byok] the server could not start: ${reason}`);
  statusBar.showFailure(reason);
  const pick = await vscode.window.showErrorMessage(`byok: the language server could not start: ${reason}`,
    'Show Logs');
  if (pick === 'Show Logs') {
    output.show();
  }
}

/** Status bar: chat model and this month's spend against the budget. */
function refreshStatus(): Promise<void> {
  return statusBar.refresh();
}

async function pickProvider(title: string): Promise<string | undefined> {
  const configured = Object.keys(vscode.workspace.getConfiguration('byok').get<object>('providers') ?? {});
  const stored = await exec<StoredKey[]>(Command.listKeys, {}).catch(() => []);
  const ids = [...new Set([...configured, ...BUILTIN_PROVIDERS])];
  return vscode.window.showQuickPick(ids.map((id) => {
    const key = stored.find((k) => k.provider === id);
    return { label: id, description: key ? `key from ${key.source}` : configured.includes(id) ? 'configured' : '' };
  }), { title, placeHolder: 'Provider id' }).then((item) => item?.label);
}

/** Never let a key reach a trace log: switch tracing off while the request runs. */
async function withoutTrace<T>(fn: () => Promise<T>): Promise<T> {
  const level = vscode.workspace.getConfiguration('byok').get<string>('trace.server', 'off');
  if (level === 'off' || client === undefined) return fn();
  await client.setTrace(Trace.Off);
  try {
    return await fn();
  } finally {
    await client.setTrace(Trace.fromString(level));
  }
}

async function setKey(): Promise<void> {
  const provider = await pickProvider('BYOK: Set API Key');
  if (!provider) return;
  const key = await vscode.window.showInputBox({
    title: `API key for ${provider}`, password: true, ignoreFocusOut: true,
    prompt: 'Stored in the OS keychain by the byok server; never in settings.',
  });
  if (!key) return;
  const res = await withoutTrace(() => exec<SetKeyResult>(Command.setKey, { provider, key }));
  stepDone(WalkthroughStep.keySet);
  void vscode.window.showInformationMessage(`byok: ${provider} key stored (${res.fingerprint ?? 'ok'})`);
  void refreshStatus();
}

async function verifyKey(): Promise<void> {
  const provider = await pickProvider('BYOK: Verify API Key');
  if (!provider) return;
  const res = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `byok: verifying ${provider}…`, cancellable: true },
    (_p, token) => exec<VerifyKeyResult>(Command.verifyKey, { provider }, token));
  if (res.ok) {
    stepDone(WalkthroughStep.keyVerified);
    void vscode.window.showInformationMessage(
      `byok: ${provider} key OK — ${res.models?.length ?? 0} models (${res.fingerprint ?? 'no key needed'})`);
  } else {
    void vscode.window.showErrorMessage(`byok: ${provider} key failed: ${describeError(res.error)}`);
  }
}

async function bindKey(): Promise<void> {
  const provider = await pickProvider('BYOK: Bind Key');
  if (!provider) return;
  // The server asks the user itself (window/showMessageRequest) and shows the whole route.
  const res = await exec<BindKeyResult>(Command.bindKey, { provider });
  const via = res.route?.proxy ? ` via ${res.route.proxy}` : '';
  void vscode.window.showInformationMessage(
    `byok: ${provider} key ${res.fingerprint ?? ''} bound to ${res.route?.endpoint ?? 'its endpoint'}${via}`);
}

async function deleteKey(): Promise<void> {
  const provider = await pickProvider('BYOK: Delete API Key');
  if (!provider) return;
  const res = await exec<DeleteKeyResult>(Command.deleteKey, { provider });
  void vscode.window.showInformationMessage(`byok: ${provider} key ${res.deleted ? 'deleted' : 'was not stored'}`);
}

async function asCodeEdit(edit: WorkspaceEdit): Promise<vscode.WorkspaceEdit> {
  if (client === undefined) throw new Error('the byok server is not running');
  return client.protocol2CodeConverter.asWorkspaceEdit(edit);
}

async function applyEdit(edit: WorkspaceEdit | undefined): Promise<void> {
  if (edit === undefined || edit === null) return;
  if (staleVersion(edit)) throw new Error('the file changed while byok worked on it; run the command again');
  const ok = await vscode.workspace.applyEdit(await asCodeEdit(edit));
  if (!ok) throw new Error('the editor refused the edit (was the file changed meanwhile?)');
}

const inlineBackend: InlineEditBackend = {
  run: (document, range, instruction, token, onDelta) => execStreaming<EditResult>(Command.inlineEdit, {
    uri: document.uri.toString(), range: client?.code2ProtocolConverter.asRange(range), instruction, apply: false,
  }, token, onDelta),
  applyEdit,
  finished: () => void refreshStatus(),
  landed: () => stepDone(WalkthroughStep.inlineEditLanded),
};

/** Apply a code block with the built-in Apply model (to the file the block names, else the target editor) and
 * show the result as a diff to accept or reject. */
async function proposeCode(block?: CodeBlock): Promise<Proposal> {
  let uri: vscode.Uri | undefined;
  if (block?.path) {
    const folder = vscode.workspace.workspaceFolders?.[0];
    uri = folder ? vscode.Uri.joinPath(folder.uri, block.path) : undefined;
  }
  uri ??= targetEditor()?.document.uri;
  if (uri === undefined) {
    throw new Error('open the file to apply the code block to');
  }
  const text = block?.code ?? (await vscode.env.clipboard.readText());
  if (!text.trim()) {
    throw new Error('no code block: copy one to the clipboard, or use Apply in the chat view');
  }
  const doc = await vscode.workspace.openTextDocument(uri);
  // The edit's ranges are on the text the server saw: if the user typed meanwhile, ask again.
  for (let attempt = 0; attempt < APPLY_ATTEMPTS; attempt++) {
    const asked = doc.version;
    const res = await exec<EditResult>(Command.apply, { uri: uri.toString(), code: text, apply: false });
    const edits = (await asCodeEdit(res.edit ?? { changes: {} })).get(doc.uri);
    if (doc.version !== asked || staleVersion(res.edit ?? {})) continue;
    if (res.unresolved?.length) {
      void vscode.window.showWarningMessage(
        `byok: ${res.unresolved.length} part(s) of the code block could not be placed; check the diff`);
    }
    if (edits.length === 0) {
      throw new Error(`the code block changes nothing in ${vscode.workspace.asRelativePath(doc.uri)}`);
    }
    return proposals.propose(doc, edits, { who: 'byok Apply' }); // records doc.version before any await
  }
  throw new Error(`${vscode.workspace.asRelativePath(doc.uri)} kept changing while Apply ran; apply again`);
}

async function showUsage(): Promise<void> {
  const res = await exec<unknown>(Command.usage, {});
  const doc = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(res, null, 2) });
  await vscode.window.showTextDocument(doc, { preview: true });
  void refreshStatus();
}

/** Composer and agent runs, their edits reviewed through VS Code (see runs.ts). */
const runs = new Runs(execStreaming, review);

/** Ask → byok.chat; Edit → byok.composer; Agent → byok.agent (both reviewed through VS Code, see runs.ts). */
async function runChat(mode: ChatMode, request: ChatRequest, token: vscode.CancellationToken,
  onDelta: (delta: Delta) => void): Promise<Answer> {
  const { files } = request;
  const prompt = request.messages[request.messages.length - 1].content;
  try {
    if (mode === 'ask') {
      const answer = chatAnswer(await execStreaming<ChatResult>(Command.chat,
        { messages: request.messages, files, ...(request.model ? { model: request.model } : {}) }, token, onDelta));
      stepDone(WalkthroughStep.chatAnswered);
      return answer;
    }
    const run = { prompt, files, model: request.model };
    return await (mode === 'edit' ? runs.composer(run, token, onDelta) : runs.agent(run, token, onDelta));
  } finally {
    void refreshStatus();
  }
}

const chatBackend: ChatBackend = {
  run: runChat,
  models: () => exec<ModelEntry[]>(Command.listModels, {}),
  propose: (block) => proposeCode(block),
  decide: (id, accept) => (accept ? proposals.accept(id) : proposals.reject(id)),
};

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('byok');
  statusBar = new StatusBar(exec);
  proposals = new Proposals();
  const inline = new InlineEditController(inlineBackend, proposals);
  lastEditor = vscode.window.activeTextEditor;
  const chatContext = new ChatContext(() => exec<McpStatusResult>(Command.mcpStatus, {}));
  const chatView = new ChatViewProvider(context, chatBackend, chatContext);
  context.subscriptions.push(proposals, chatContext, chatView, asks, asks.onDidWithdraw((title) =>
    chatView.note(`No answer in time to "${title}": byok took it as a refusal (byok.agent.permissionTimeoutS).`)));
  context.subscriptions.push(vscode.window.registerWebviewViewProvider(ChatViewProvider.viewId, chatView,
    { webviewOptions: { retainContextWhenHidden: true } }));
  const selection = (): string | undefined => {
    const editor = vscode.window.activeTextEditor;
    return editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : undefined;
  };
  context.subscriptions.push(output, statusBar, vscode.window.onDidChangeActiveTextEditor((e) => {
    lastEditor = e ?? lastEditor;
  }));
  const checkpoints = new Checkpoints(exec, review);
  const mcpServers = new McpServers(exec);
  context.subscriptions.push(mcpServers.register());
  const commands: Record<string, (...args: unknown[]) => Promise<unknown>> = {
    [UiCommand.setKey]: setKey,
    [UiCommand.verifyKey]: verifyKey,
    [UiCommand.bindKey]: bindKey,
    [UiCommand.deleteKey]: deleteKey,
    [UiCommand.chat]: () => chatView.show('ask', selection()),
    [UiCommand.composer]: () => chatView.show('edit', selection()),
    [UiCommand.agent]: () => chatView.show('agent', selection()),
    [UiCommand.newChat]: () => chatView.newChat(),
    [INLINE_COMMAND]: () => inline.start(),
    [STATUS_MENU_COMMAND]: () => statusBar.showMenu(),
    [UiCommand.apply]: async (code?: unknown) => {
      await proposeCode(typeof code === 'string' ? { language: '', code } : undefined);
    },
    [PROPOSAL_COMMANDS.accept]: (id?: unknown) => proposals.accept(id),
    [PROPOSAL_COMMANDS.reject]: (id?: unknown) => proposals.reject(id),
    [UiCommand.usage]: showUsage,
    [UiCommand.restoreCheckpoint]: (id?: unknown) => checkpoints.restoreCommand(id),
    [UiCommand.mcpServers]: () => mcpServers.show(),
    [UiCommand.restart]: async () => {
      if (client?.isRunning()) {
        await client.restart();
        void refreshStatus();
      } else {
        await client?.dispose().catch(() => undefined);
        await startClient();
      }
    },
    [UiCommand.showLogs]: () => Promise.resolve(output.show()),
  };
  for (const [id, fn] of Object.entries(commands)) {
    context.subscriptions.push(vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await fn(...args); // a result (a restore's report) goes back to executeCommand's caller
      } catch (err) {
        if (!isCancellation(err)) {
          void vscode.window.showErrorMessage(`byok: ${describeError(err)}`);
        }
        return undefined;
      }
    }));
  }
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration(async (e) => {
    if (e.affectsConfiguration('byok.server')) {
      const pick = await vscode.window.showInformationMessage(
        'byok: the server command changed; restart the server to use it?', 'Restart');
      if (pick === 'Restart') await vscode.commands.executeCommand(UiCommand.restart);
    } else if (e.affectsConfiguration('byok')) {
      setTimeout(() => void refreshStatus(), 500); // the server re-reads the settings itself
    }
  }));
  await startClient();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
