/**
 * Inline edit (Ctrl+K with a selection, Ctrl+I at the cursor): the instruction goes in an input box, then the
 * answer of `byok.inlineEdit` streams into a proposal (proposal.ts: a diff beside the file, Accept with
 * Ctrl+Enter as one undoable edit, Reject with Esc, which also cancels a request still streaming).
 * `byok.inlineEdit.preview: false` applies the answer at once.
 */
import * as vscode from 'vscode';
import { UiCommand, type Delta, type EditResult } from './protocol';
import { coveredLines, type Proposals } from './proposal';
import { isCancellation } from './util';

export const INLINE_COMMAND = UiCommand.inlineEdit;

/** What the controller needs from the language client. */
export interface InlineEditBackend {
  /** Run `byok.inlineEdit` (streaming) for the document range; `apply` is always false. */
  run(document: vscode.TextDocument, range: vscode.Range, instruction: string, token: vscode.CancellationToken,
    onDelta: (delta: Delta) => void): Promise<EditResult>;
  /** Apply the server's WorkspaceEdit (apply-at-once mode). */
  applyEdit(edit: EditResult['edit']): Promise<void>;
  /** A request finished (the status bar re-reads the spend). */
  finished(): void;
  /** An inline edit landed in the file (accepted, or applied at once). */
  landed(): void;
}

export class InlineEditController {
  /** The id of this controller's proposal still undecided. */
  private current: string | undefined;

  constructor(private readonly backend: InlineEditBackend, private readonly proposals: Proposals) {}

  /** Ask for the instruction, then preview (or apply) the edit of the selection, or generate at the cursor. */
  async start(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) return;
    if (this.current !== undefined) await this.proposals.reject(this.current);
    const range = editor.selection.isEmpty ? new vscode.Range(editor.selection.active, editor.selection.active)
      : new vscode.Range(editor.selection.start, editor.selection.end);
    editor.setDecorations(this.proposals.highlight, range.isEmpty ? [] : [coveredLines(range)]);
    const instruction = await vscode.window.showInputBox({
      title: range.isEmpty ? 'BYOK: Generate at Cursor' : 'BYOK: Inline Edit',
      prompt: range.isEmpty ? 'What should be written at the cursor?' : 'What should change in the selection?',
      ignoreFocusOut: true,
    }).then((text) => text, () => undefined);
    editor.setDecorations(this.proposals.highlight, []);
    if (!instruction) return;
    if (!vscode.workspace.getConfiguration('byok').get<boolean>('inlineEdit.preview', true)) {
      return this.applyAtOnce(editor.document, range, instruction);
    }
    await this.preview(editor.document, range, instruction);
  }

  private async applyAtOnce(document: vscode.TextDocument, range: vscode.Range, instruction: string): Promise<void> {
    try {
      const res = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'byok: editing…', cancellable: true },
        (progress, token) => this.backend.run(document, range, instruction, token,
          (d) => d.type === 'status' && progress.report({ message: d.text })));
      await this.backend.applyEdit(res.edit);
      this.backend.landed();
    } finally {
      this.backend.finished();
    }
  }

  /** Stream the answer into a proposal replacing `range`; the user accepts or rejects it there. */
  private async preview(document: vscode.TextDocument, range: vscode.Range, instruction: string): Promise<void> {
    const replace = (text: string): vscode.TextEdit[] => [vscode.TextEdit.replace(range, text)];
    const proposal = await this.proposals.propose(document, replace(''),
      { who: instruction.slice(0, 40), streaming: true, beside: true });
    const { id } = proposal;
    this.current = id;
    void proposal.verdict.then((verdict) => {
      if (this.current === id) this.current = undefined;
      if (verdict === 'accepted') this.backend.landed();
    });
    let written = '';
    try {
      const res = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'byok: inline edit' },
        (progress) => this.backend.run(document, range, instruction, proposal.token, (d) => {
          if (d.type === 'text') {
            written += d.text;
            this.proposals.update(id, replace(written));
          } else if (d.type === 'status') {
            progress.report({ message: d.text });
          }
        }));
      if (proposal.token.isCancellationRequested) return;
      const newText = res.newText ?? written;
      this.proposals.finish(id, replace(newText));
      if (newText === document.getText(range)) {
        void vscode.window.showInformationMessage('byok: the model proposed no change');
        await this.proposals.reject(id);
      }
    } catch (err) {
      await this.proposals.reject(id);
      if (!isCancellation(err)) throw err;
    } finally {
      this.backend.finished();
    }
  }
}
