/**
 * A proposed change to one file, shown in VS Code's diff editor (the file as it is against the proposed text)
 * to accept or reject: Accept applies the edit as one undoable edit; Reject, or closing the diff, leaves the
 * file as it is.
 */
import * as path from 'path';
import * as vscode from 'vscode';

export type Verdict = 'accepted' | 'rejected';

interface Pending {
  target: vscode.TextDocument;
  version: number;
  edit: vscode.WorkspaceEdit;
  proposed: string;
  view: vscode.Uri;
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

/** The open proposals; the provider of their right-hand (proposed) documents. */
export class Proposals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  static readonly scheme = 'byok-proposed';
  private readonly pending = new Map<string, Pending>();
  private readonly subscriptions: vscode.Disposable[];
  private counter = 0;

  constructor() {
    this.subscriptions = [
      vscode.workspace.registerTextDocumentContentProvider(Proposals.scheme, this),
      // closing the diff without a verdict rejects the proposal
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        for (const tab of e.closed) {
          const view = tab.input instanceof vscode.TabInputTextDiff ? tab.input.modified.toString() : undefined;
          if (view !== undefined) this.pending.get(view)?.decide('rejected');
        }
      }),
    ];
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.pending.get(uri.toString())?.proposed ?? '';
  }

  /** Show `edit` (changing `target` only) as a diff titled by `who`. `id` names the proposal for `accept` and
   * `reject`; `verdict` resolves when the user decides. */
  async propose(target: vscode.TextDocument, edit: vscode.WorkspaceEdit, who: string):
  Promise<{ id: string; verdict: Promise<Verdict> }> {
    const proposed = applyTextEdits(target, edit.get(target.uri));
    this.counter += 1;
    const view = vscode.Uri.from({ scheme: Proposals.scheme, path: target.uri.path, query: String(this.counter) });
    const verdict = new Promise<Verdict>((resolve) => {
      this.pending.set(view.toString(), {
        target, version: target.version, edit, proposed, view,
        decide: (v) => {
          if (this.pending.delete(view.toString())) resolve(v);
        },
      });
    });
    const name = path.basename(target.uri.path);
    await vscode.commands.executeCommand('vscode.diff', target.uri, view,
      `${name} ↔ ${who} (review, then Accept or Reject)`, { preview: false });
    return { id: view.toString(), verdict };
  }

  /** The proposal `id` names (a proposed document's uri: a string from the chat view, a Uri from the diff's
   * title bar), else the one in the active diff editor. */
  private find(id?: unknown): Pending | undefined {
    const named = typeof id === 'string' || id instanceof vscode.Uri ? this.pending.get(id.toString()) : undefined;
    if (named !== undefined || typeof id === 'string') return named;
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    const view = input instanceof vscode.TabInputTextDiff ? input.modified : vscode.window.activeTextEditor?.document.uri;
    return view ? this.pending.get(view.toString()) : [...this.pending.values()].pop();
  }

  /** Accept: the edit lands as one undoable edit, unless the file changed since it was proposed. */
  async accept(id?: unknown): Promise<void> {
    const p = this.find(id);
    if (p === undefined) throw new Error('no proposed change to accept');
    if (p.target.version !== p.version) {
      await this.close(p, 'rejected');
      throw new Error(`${vscode.workspace.asRelativePath(p.target.uri)} changed after the change was proposed; apply it again`);
    }
    if (!(await vscode.workspace.applyEdit(p.edit))) {
      throw new Error('the editor refused the edit (was the file changed meanwhile?)');
    }
    await this.close(p, 'accepted');
    await vscode.window.showTextDocument(p.target, { preview: false });
  }

  async reject(id?: unknown): Promise<void> {
    const p = this.find(id);
    if (p !== undefined) await this.close(p, 'rejected');
  }

  private async close(p: Pending, verdict: Verdict): Promise<void> {
    p.decide(verdict);
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) =>
      t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === p.view.toString());
    await vscode.window.tabGroups.close(tabs);
  }

  dispose(): void {
    for (const p of this.pending.values()) p.decide('rejected');
    for (const s of this.subscriptions) s.dispose();
  }
}
