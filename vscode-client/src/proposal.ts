/**
 * A proposed change to one file, previewed in VS Code's diff editor: the file as it is against a read-only
 * virtual document holding the change, so the file is never touched (nor dirtied) while the user looks. Apply
 * (chat code blocks) and inline edit (Ctrl+K / Ctrl+I) both go through here. A proposal may still be streaming:
 * its text grows as the answer arrives, Accept waits for the end and Reject cancels the request.
 *
 * Accept (Ctrl+Enter, the ✓ in the diff's title, the CodeLens) applies the change as ONE WorkspaceEdit (one undo
 * step) unless the file changed meanwhile; Reject (Esc, ✗, the CodeLens) or closing the diff leaves the file as
 * it is. The context key `byok.changePending` is true while the active editor shows a pending proposal or the
 * file it changes (the keybindings depend on it).
 */
import { UiCommand } from './protocol';
import * as path from 'path';
import * as vscode from 'vscode';

export type Verdict = 'accepted' | 'rejected';

/** The extension's commands that decide a proposal (an optional argument names it: its id or view Uri). */
export const PROPOSAL_COMMANDS = {
  accept: UiCommand.acceptChange,
  reject: UiCommand.rejectChange,
} as const;
const SCHEME = 'byok-proposed';
const PENDING_CONTEXT = 'byok.changePending';
const REDRAW_MS = 50;

/** How a proposal is shown. */
export interface ProposalOptions {
  /** Who proposes it, for the diff's title (`calc.py ↔ byok Apply`). */
  who: string;
  /** The change is still being written: `update` grows it, `finish` ends it. */
  streaming?: boolean;
  /** Open the diff beside the file (else in the active editor group). */
  beside?: boolean;
}

/** A shown proposal: `id` names it for `update`, `finish`, `accept` and `reject`; `verdict` resolves when the
 * user decides; `token` is cancelled on Reject (cancel the request that writes a streaming proposal with it). */
export interface Proposal {
  id: string;
  verdict: Promise<Verdict>;
  token: vscode.CancellationToken;
}

interface Pending {
  target: vscode.TextDocument;
  version: number;
  edits: vscode.TextEdit[];
  proposed: string;
  view: vscode.Uri;
  streaming: boolean;
  cancel: vscode.CancellationTokenSource;
  decide: (verdict: Verdict) => void;
}

/** The proposed text: `edits` (non-overlapping, on `doc`) applied to `doc`'s text. */
export function applyTextEdits(doc: vscode.TextDocument, edits: readonly vscode.TextEdit[]): string {
  const text = doc.getText();
  const spans = edits
    .map((e) => ({ start: doc.offsetAt(e.range.start), end: doc.offsetAt(e.range.end), newText: e.newText }))
    .sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  for (const span of spans) out = out.slice(0, span.start) + span.newText + out.slice(span.end);
  return out;
}

/** The offsets, in the edited text, of the span from the first edit's start to the last edit's new end. */
function changedSpan(doc: vscode.TextDocument, edits: readonly vscode.TextEdit[]): [number, number] {
  const spans = edits.map((e) => ({ start: doc.offsetAt(e.range.start), end: doc.offsetAt(e.range.end), n: e.newText.length }))
    .sort((a, b) => a.start - b.start);
  const growth = spans.reduce((sum, s) => sum + s.n - (s.end - s.start), 0);
  return [spans[0]?.start ?? 0, (spans[spans.length - 1]?.end ?? 0) + growth];
}

/** The whole lines a range covers (a range ending at column 0 does not cover that line). */
export function coveredLines(range: vscode.Range): vscode.Range {
  const end = range.end.character === 0 && range.end.line > range.start.line ? range.end.line - 1 : range.end.line;
  return new vscode.Range(range.start.line, 0, end, 0);
}

/** The open proposals: the provider of their proposed documents and of their Accept / Reject CodeLenses. */
export class Proposals implements vscode.TextDocumentContentProvider, vscode.CodeLensProvider, vscode.Disposable {
  private readonly pending = new Map<string, Pending>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly lensesChanged = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  readonly onDidChangeCodeLenses = this.lensesChanged.event;
  /** The lines a proposal replaces, in the file's own editor (and a selection while an instruction is typed). */
  readonly highlight = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
    isWholeLine: true,
  });
  private readonly subscriptions: vscode.Disposable[];
  private readonly redraws = new Map<string, ReturnType<typeof setTimeout>>();
  private counter = 0;
  private contextOn = false;

  constructor() {
    const refresh = (): void => this.refreshContext();
    this.subscriptions = [
      this.changed, this.lensesChanged, this.highlight,
      vscode.workspace.registerTextDocumentContentProvider(SCHEME, this),
      vscode.languages.registerCodeLensProvider([{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: SCHEME }], this),
      // closing the diff without a verdict rejects the proposal
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        for (const tab of e.closed) {
          const view = tab.input instanceof vscode.TabInputTextDiff ? tab.input.modified.toString() : undefined;
          const p = view === undefined ? undefined : this.pending.get(view);
          if (p !== undefined) this.end(p, 'rejected');
        }
        refresh();
      }),
      vscode.window.tabGroups.onDidChangeTabGroups(refresh),
      vscode.window.onDidChangeActiveTextEditor(refresh),
      vscode.window.onDidChangeVisibleTextEditors(() => this.decorate()),
    ];
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.pending.get(uri.toString())?.proposed ?? '';
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const uri = document.uri.toString();
    return [...this.pending.values()].filter((p) => p.view.toString() === uri || p.target === document).flatMap((p) => {
      const at = document.positionAt(changedSpan(p.target, p.edits)[0]);
      const range = new vscode.Range(at, at);
      const args = [p.view.toString()];
      if (p.streaming) {
        return [new vscode.CodeLens(range,
          { title: '$(sync~spin) byok is writing the change · Cancel (Esc)', command: PROPOSAL_COMMANDS.reject, arguments: args })];
      }
      return [new vscode.CodeLens(range, { title: '$(check) Accept (Ctrl+Enter)', command: PROPOSAL_COMMANDS.accept, arguments: args }),
        new vscode.CodeLens(range, { title: '$(close) Reject (Esc)', command: PROPOSAL_COMMANDS.reject, arguments: args })];
    });
  }

  /** Show `edits` (on `target`) as a diff against the file. */
  async propose(target: vscode.TextDocument, edits: readonly vscode.TextEdit[], options: ProposalOptions):
  Promise<Proposal> {
    this.counter += 1;
    const view = vscode.Uri.from({ scheme: SCHEME, path: target.uri.path, query: String(this.counter) });
    const cancel = new vscode.CancellationTokenSource();
    const verdict = new Promise<Verdict>((resolve) => {
      this.pending.set(view.toString(), {
        target, version: target.version, edits: [...edits], proposed: applyTextEdits(target, edits), view,
        streaming: options.streaming ?? false, cancel, decide: resolve,
      });
    });
    this.decorate();
    this.lensesChanged.fire();
    const title = `${path.basename(target.uri.path)} ↔ ${options.who} (Ctrl+Enter accept, Esc reject)`;
    await vscode.commands.executeCommand('vscode.diff', target.uri, view, title,
      options.beside ? { viewColumn: vscode.ViewColumn.Beside, preview: true } : { preview: false });
    this.lensesChanged.fire(); // the proposed document is open now
    this.refreshContext();
    return { id: view.toString(), verdict, token: cancel.token };
  }

  /** The streamed change so far (the diff is redrawn at most every REDRAW_MS). */
  update(id: string, edits: readonly vscode.TextEdit[]): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    p.edits = [...edits];
    p.proposed = applyTextEdits(p.target, p.edits);
    if (!this.redraws.has(id)) {
      this.redraws.set(id, setTimeout(() => {
        this.redraws.delete(id);
        if (this.pending.has(id)) this.changed.fire(p.view);
      }, REDRAW_MS));
    }
  }

  /** The streamed change is complete: `edits` is the whole of it; Accept now applies it. */
  finish(id: string, edits: readonly vscode.TextEdit[]): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    p.edits = [...edits];
    p.proposed = applyTextEdits(p.target, p.edits);
    p.streaming = false;
    this.changed.fire(p.view);
    this.decorate(p.target);
    this.lensesChanged.fire();
  }

  /** The proposal `id` names (a proposed document's uri: a string from the chat view or a CodeLens, a Uri from
   * the diff's title bar), else the one shown in the active editor (its diff or its file), else the newest. */
  private find(id?: unknown): Pending | undefined {
    const named = typeof id === 'string' || id instanceof vscode.Uri ? this.pending.get(id.toString()) : undefined;
    if (named !== undefined || typeof id === 'string') return named;
    const shown = this.shownInActiveEditor();
    return shown ?? [...this.pending.values()].pop();
  }

  private shownInActiveEditor(): Pending | undefined {
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    const diffView = input instanceof vscode.TabInputTextDiff ? input.modified.toString() : undefined;
    const active = vscode.window.activeTextEditor?.document.uri.toString();
    return [...this.pending.values()].reverse().find((p) => p.view.toString() === diffView
      || p.view.toString() === active || p.target.uri.toString() === active);
  }

  /** Accept: the change lands as one undoable edit, unless it is still being written or the file changed since
   * it was proposed; the file's editor then shows it selected. */
  async accept(id?: unknown): Promise<void> {
    const p = this.find(id);
    if (p === undefined) throw new Error('no proposed change to accept');
    if (p.streaming) {
      void vscode.window.showInformationMessage('byok: the change is still being written; Esc cancels it');
      return;
    }
    if (p.target.version !== p.version) {
      await this.close(p, 'rejected');
      throw new Error(`${vscode.workspace.asRelativePath(p.target.uri)} changed after the change was proposed; run it again`);
    }
    const edit = new vscode.WorkspaceEdit();
    edit.set(p.target.uri, p.edits);
    const [start, end] = changedSpan(p.target, p.edits); // offsets in the edited text, taken before the edit
    if (!(await vscode.workspace.applyEdit(edit))) {
      throw new Error('the editor refused the edit (was the file changed meanwhile?)');
    }
    await this.close(p, 'accepted');
    const editor = await vscode.window.showTextDocument(p.target, { preview: false });
    editor.selection = new vscode.Selection(p.target.positionAt(start), p.target.positionAt(end));
    editor.revealRange(editor.selection);
  }

  /** Reject: cancel a request still writing it and close the diff; the file is left as it was. */
  async reject(id?: unknown): Promise<void> {
    const p = this.find(id);
    if (p === undefined) return;
    await this.close(p, 'rejected');
    if (vscode.window.visibleTextEditors.some((e) => e.document === p.target)) {
      await vscode.window.showTextDocument(p.target, { preview: false });
    }
  }

  private async close(p: Pending, verdict: Verdict): Promise<void> {
    this.end(p, verdict);
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) =>
      t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === p.view.toString());
    if (tabs.length) await vscode.window.tabGroups.close(tabs);
  }

  /** Forget `p` (once): cancel its request, clear its marks, resolve its verdict. */
  private end(p: Pending, verdict: Verdict): void {
    const id = p.view.toString();
    if (!this.pending.delete(id)) return;
    clearTimeout(this.redraws.get(id));
    this.redraws.delete(id);
    p.cancel.cancel();
    p.cancel.dispose();
    this.decorate(p.target);
    this.lensesChanged.fire();
    this.refreshContext();
    p.decide(verdict);
  }

  /** Mark the lines the pending proposals replace in the visible editors of `document` (else of every file
   * with a pending proposal). */
  private decorate(document?: vscode.TextDocument): void {
    const targets = new Set(document ? [document] : [...this.pending.values()].map((p) => p.target));
    for (const editor of vscode.window.visibleTextEditors.filter((e) => targets.has(e.document))) {
      const ranges = [...this.pending.values()].filter((p) => p.target === editor.document)
        .flatMap((p) => p.edits.filter((e) => !e.range.isEmpty).map((e) => coveredLines(e.range)));
      editor.setDecorations(this.highlight, ranges);
    }
  }

  private refreshContext(): void {
    const on = this.shownInActiveEditor() !== undefined;
    if (on === this.contextOn) return;
    this.contextOn = on;
    void vscode.commands.executeCommand('setContext', PENDING_CONTEXT, on);
  }

  dispose(): void {
    for (const p of [...this.pending.values()]) this.end(p, 'rejected');
    for (const s of this.subscriptions) s.dispose();
  }
}
