/**
 * Inline edit (Ctrl+K with a selection, Ctrl+I at the cursor): the answer of `byok.inlineEdit` streams into a
 * diff editor beside the file (the proposal is a read-only virtual document, so the file is never dirtied while
 * previewing); Accept (Ctrl+Enter) applies it as ONE WorkspaceEdit, hence one undo step; Reject (Esc) or
 * closing the diff cancels the request and leaves the file untouched. `byok.inlineEdit.preview: false` applies
 * the answer at once.
 */
import * as vscode from 'vscode';
import type { Delta, EditResult } from './protocol';
import { isCancellation, nonce } from './util';

export const INLINE_COMMANDS = {
  start: 'byok.ui.inlineEdit',
  accept: 'byok.ui.inlineEdit.accept',
  reject: 'byok.ui.inlineEdit.reject',
} as const;
const PENDING_CONTEXT = 'byok.inlineEditPending';
const SCHEME = 'byok-inline';
const REDRAW_MS = 50;

/** What the controller needs from the language client. */
export interface InlineEditBackend {
  /** Run `byok.inlineEdit` (streaming) for the document range; `apply` is always false. */
  run(document: vscode.TextDocument, range: vscode.Range, instruction: string, token: vscode.CancellationToken,
    onDelta: (delta: Delta) => void): Promise<EditResult>;
  /** Apply the server's WorkspaceEdit (apply-at-once mode). */
  applyEdit(edit: EditResult['edit']): Promise<void>;
  /** A request finished (the status bar re-reads the spend). */
  finished(): void;
}

interface Session {
  document: vscode.TextDocument;
  version: number;
  range: vscode.Range;
  before: string;
  after: string;
  proposed: string;
  streaming: boolean;
  proposalUri: vscode.Uri;
  cancel: vscode.CancellationTokenSource;
}

/** The whole lines a range covers (a selection ending at column 0 does not cover that line). */
function highlighted(range: vscode.Range): vscode.Range[] {
  if (range.isEmpty) return [];
  const end = range.end.character === 0 && range.end.line > range.start.line ? range.end.line - 1 : range.end.line;
  return [new vscode.Range(range.start.line, 0, end, 0)];
}

export class InlineEditController implements vscode.TextDocumentContentProvider, vscode.CodeLensProvider,
  vscode.Disposable {
  private session: Session | undefined;
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly lensesChanged = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  readonly onDidChangeCodeLenses = this.lensesChanged.event;
  private readonly highlight = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
    isWholeLine: true,
  });
  private readonly disposables: vscode.Disposable[];
  private redraw: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly backend: InlineEditBackend) {
    this.disposables = [
      this.changed, this.lensesChanged, this.highlight,
      vscode.workspace.registerTextDocumentContentProvider(SCHEME, this),
      vscode.languages.registerCodeLensProvider([{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: SCHEME }], this),
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        if (this.session && e.closed.some((tab) => this.isProposalTab(tab))) this.end();
      }),
    ];
  }

  dispose(): void {
    this.end();
    for (const d of this.disposables) d.dispose();
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const s = this.session;
    return s && uri.toString() === s.proposalUri.toString() ? s.before + s.proposed + s.after : '';
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const s = this.session;
    if (s === undefined || (document !== s.document && document.uri.toString() !== s.proposalUri.toString())) {
      return [];
    }
    const at = document === s.document ? new vscode.Range(s.range.start, s.range.start)
      : new vscode.Range(s.document.positionAt(s.before.length), s.document.positionAt(s.before.length));
    if (s.streaming) {
      return [new vscode.CodeLens(at, { title: '$(sync~spin) byok: writing the edit…', command: '' }),
        new vscode.CodeLens(at, { title: 'Cancel (Esc)', command: INLINE_COMMANDS.reject })];
    }
    return [new vscode.CodeLens(at, { title: '$(check) Accept (Ctrl+Enter)', command: INLINE_COMMANDS.accept }),
      new vscode.CodeLens(at, { title: '$(close) Reject (Esc)', command: INLINE_COMMANDS.reject })];
  }

  /** Ask for the instruction, then preview (or apply) the edit of the selection, or generate at the cursor. */
  async start(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) return;
    if (this.session) await this.reject();
    const range = editor.selection.isEmpty ? new vscode.Range(editor.selection.active, editor.selection.active)
      : new vscode.Range(editor.selection.start, editor.selection.end);
    editor.setDecorations(this.highlight, highlighted(range));
    const instruction = await vscode.window.showInputBox({
      title: range.isEmpty ? 'BYOK: Generate at Cursor' : 'BYOK: Inline Edit',
      prompt: range.isEmpty ? 'What should be written at the cursor?' : 'What should change in the selection?',
      ignoreFocusOut: true,
    }).then((text) => text, () => undefined);
    editor.setDecorations(this.highlight, []);
    if (!instruction) return;
    if (!vscode.workspace.getConfiguration('byok').get<boolean>('inlineEdit.preview', true)) {
      return this.applyAtOnce(editor.document, range, instruction);
    }
    await this.preview(editor, range, instruction);
  }

  private async applyAtOnce(document: vscode.TextDocument, range: vscode.Range, instruction: string): Promise<void> {
    try {
      const res = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'byok: editing…', cancellable: true },
        (progress, token) => this.backend.run(document, range, instruction, token,
          (d) => d.type === 'status' && progress.report({ message: d.text })));
      await this.backend.applyEdit(res.edit);
    } finally {
      this.backend.finished();
    }
  }

  private async preview(editor: vscode.TextEditor, range: vscode.Range, instruction: string): Promise<void> {
    const document = editor.document;
    const text = document.getText();
    const session: Session = {
      document, version: document.version, range,
      before: text.slice(0, document.offsetAt(range.start)),
      after: text.slice(document.offsetAt(range.end)),
      proposed: '', streaming: true,
      proposalUri: vscode.Uri.from({ scheme: SCHEME, path: document.uri.path, query: nonce() }),
      cancel: new vscode.CancellationTokenSource(),
    };
    this.session = session;
    editor.setDecorations(this.highlight, highlighted(range));
    await vscode.commands.executeCommand('setContext', PENDING_CONTEXT, true);
    this.lensesChanged.fire();
    const name = document.uri.path.split('/').pop() ?? 'file';
    await vscode.commands.executeCommand('vscode.diff', document.uri, session.proposalUri,
      `byok: ${name} ↔ ${instruction.slice(0, 40)} (Ctrl+Enter accept, Esc reject)`,
      { viewColumn: vscode.ViewColumn.Beside, preview: true });
    try {
      const res = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'byok: inline edit' },
        (progress) => this.backend.run(document, range, instruction, session.cancel.token, (d) => {
          if (d.type === 'text') {
            session.proposed += d.text;
            this.scheduleRedraw(session);
          } else if (d.type === 'status') {
            progress.report({ message: d.text });
          }
        }));
      if (this.session !== session) return;
      session.proposed = res.newText ?? session.proposed;
      session.streaming = false;
      this.changed.fire(session.proposalUri);
      this.lensesChanged.fire();
      if (session.proposed === document.getText(range)) {
        void vscode.window.showInformationMessage('byok: the model proposed no change');
        await this.reject();
      }
    } catch (err) {
      if (this.session === session) await this.reject();
      if (!isCancellation(err)) throw err;
    } finally {
      this.backend.finished();
    }
  }

  private scheduleRedraw(session: Session): void {
    this.redraw ??= setTimeout(() => {
      this.redraw = undefined;
      if (this.session === session) this.changed.fire(session.proposalUri);
    }, REDRAW_MS);
  }

  /** Apply the previewed edit as one WorkspaceEdit (one undo step), close the diff and select the new text. */
  async accept(): Promise<void> {
    const s = this.session;
    if (s === undefined) return;
    if (s.streaming) {
      void vscode.window.showInformationMessage('byok: the edit is still being written; Esc cancels it');
      return;
    }
    if (s.document.version !== s.version) {
      await this.reject();
      throw new Error('the file changed while the edit was previewed; run the inline edit again');
    }
    const edit = new vscode.WorkspaceEdit();
    edit.replace(s.document.uri, s.range, s.proposed);
    await this.closeProposal(s);
    this.end();
    if (!(await vscode.workspace.applyEdit(edit))) {
      throw new Error('the editor refused the edit (was the file changed meanwhile?)');
    }
    const editor = await vscode.window.showTextDocument(s.document);
    const start = s.document.positionAt(s.before.length);
    editor.selection = new vscode.Selection(start, s.document.positionAt(s.before.length + s.proposed.length));
  }

  /** Cancel a running request, close the diff; the file is left as it was. */
  async reject(): Promise<void> {
    const s = this.session;
    if (s === undefined) return;
    this.end();
    await this.closeProposal(s);
    await vscode.window.showTextDocument(s.document);
  }

  private async closeProposal(s: Session): Promise<void> {
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((tab) => this.isProposalTab(tab, s));
    if (tabs.length) await vscode.window.tabGroups.close(tabs);
  }

  private isProposalTab(tab: vscode.Tab, s = this.session): boolean {
    return s !== undefined && tab.input instanceof vscode.TabInputTextDiff
      && tab.input.modified.toString() === s.proposalUri.toString();
  }

  private end(): void {
    const s = this.session;
    if (s === undefined) return;
    this.session = undefined;
    s.cancel.cancel();
    s.cancel.dispose();
    vscode.window.visibleTextEditors.filter((e) => e.document === s.document)
      .forEach((e) => e.setDecorations(this.highlight, []));
    void vscode.commands.executeCommand('setContext', PENDING_CONTEXT, false);
    this.lensesChanged.fire();
  }
}
