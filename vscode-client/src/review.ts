/**
 * Edits the server sends (`workspace/applyEdit`: composer, agent, checkpoint restore) applied through VS Code,
 * with what became of each file: with `review: "preview"` the edit carries change annotations that need
 * confirmation, so VS Code opens its refactor preview and the user accepts or rejects each file and change.
 * The edits land in editor buffers; VS Code's usual rules (and `files.autoSave`) save them.
 */
import * as vscode from 'vscode';
import {
  ApplyWorkspaceEditRequest,
  type ApplyWorkspaceEditParams,
  type ApplyWorkspaceEditResult,
  type LanguageClient,
  type Position,
  type TextEdit,
  type WorkspaceEdit,
} from 'vscode-languageclient/node';

/** What became of one file of an edit: all of it applied, part of it (some changes unticked), none. */
export type Outcome = 'applied' | 'partly applied' | 'rejected' | 'not applied';

export interface FileOutcome {
  path: string;
  action: 'modify' | 'create' | 'delete' | 'rename';
  outcome: Outcome;
}

/** One `workspace/applyEdit`: whether VS Code applied it, and each file's fate. */
export interface EditOutcome {
  label?: string;
  applied: boolean;
  files: FileOutcome[];
}

interface PlannedFile {
  uri: string;
  action: FileOutcome['action'];
  edits: TextEdit[];
}

/** The files an LSP WorkspaceEdit touches, in order, with the text edits of each. */
function plannedFiles(edit: WorkspaceEdit): PlannedFile[] {
  const files = new Map<string, PlannedFile>();
  const file = (uri: string, action: PlannedFile['action']): PlannedFile => {
    const known = files.get(uri) ?? { uri, action, edits: [] };
    if (action !== 'modify') known.action = action;
    files.set(uri, known);
    return known;
  };
  for (const change of edit.documentChanges ?? []) {
    if ('kind' in change) {
      if (change.kind === 'rename') file(change.newUri, 'rename');
      else file(change.uri, change.kind);
    } else {
      file(change.textDocument.uri, 'modify').edits.push(...change.edits);
    }
  }
  for (const [uri, edits] of Object.entries(edit.changes ?? {})) file(uri, 'modify').edits.push(...edits);
  return [...files.values()];
}

/** A file's text now: the open buffer, else the disk's; undefined when there is no such file. */
async function currentText(uri: string): Promise<string | undefined> {
  const target = vscode.Uri.parse(uri);
  const exists = await vscode.workspace.fs.stat(target).then(() => true, () => false);
  if (!exists) return undefined;
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.toString());
  if (open) return open.getText();
  return new TextDecoder().decode(await vscode.workspace.fs.readFile(target));
}

function offsetAt(lineStarts: number[], text: string, pos: Position): number {
  if (pos.line >= lineStarts.length) return text.length;
  return Math.min(lineStarts[pos.line] + pos.character, lineStarts[pos.line + 1] ?? text.length);
}

/** `text` with LSP text edits applied (positions in UTF-16 units, as JavaScript strings count). */
export function applyTextEdits(text: string, edits: TextEdit[]): string {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const spans = edits.map((e) => ({
    start: offsetAt(lineStarts, text, e.range.start), end: offsetAt(lineStarts, text, e.range.end), text: e.newText,
  })).sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  for (const span of spans) out = out.slice(0, span.start) + span.text + out.slice(span.end);
  return out;
}

function judge(applied: boolean, before: string | undefined, after: string | undefined,
  expected: string | undefined): Outcome {
  if (!applied) return 'not applied';
  if (after === expected) return 'applied';
  return after === before ? 'rejected' : 'partly applied';
}

/** A versioned change for an open document that moved on since the server looked (the client's own check). */
export function staleVersion(edit: WorkspaceEdit): boolean {
  return (edit.documentChanges ?? []).some((change) => {
    if ('kind' in change || typeof change.textDocument.version !== 'number' || change.textDocument.version < 0) {
      return false;
    }
    const uri = vscode.Uri.parse(change.textDocument.uri).toString();
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    return doc !== undefined && doc.version !== change.textDocument.version;
  });
}

/** Applies server edits with the refactor preview where they ask for it, and tells listeners what happened. */
export class EditReview {
  private readonly listeners = new Set<(outcome: EditOutcome) => void>();

  /** Replace `client`'s `workspace/applyEdit` handler with ours (the same checks, plus outcomes). */
  register(client: LanguageClient): vscode.Disposable {
    return client.onRequest(ApplyWorkspaceEditRequest.type,
      (params: ApplyWorkspaceEditParams) => this.handle(client, params));
  }

  /** `run`'s result and the outcomes of the server's edits applied while it ran. */
  async during<T>(run: () => Promise<T>): Promise<[T, EditOutcome[]]> {
    const seen: EditOutcome[] = [];
    const listener = (outcome: EditOutcome): void => void seen.push(outcome);
    this.listeners.add(listener);
    try {
      return [await run(), seen];
    } finally {
      this.listeners.delete(listener);
    }
  }

  private async handle(client: LanguageClient, params: ApplyWorkspaceEditParams): Promise<ApplyWorkspaceEditResult> {
    const outcome = await this.apply(client, params.edit, params.label);
    for (const listener of this.listeners) listener(outcome);
    return outcome.applied ? { applied: true } : { applied: false, failureReason: 'not applied in the editor' };
  }

  /** Apply `edit` through VS Code (its preview when a change needs confirmation) and judge each file. */
  private async apply(client: LanguageClient, edit: WorkspaceEdit, label?: string): Promise<EditOutcome> {
    const planned = plannedFiles(edit);
    const before = await Promise.all(planned.map((f) => currentText(f.uri)));
    let applied = !staleVersion(edit);
    if (applied) {
      applied = await vscode.workspace.applyEdit(await client.protocol2CodeConverter.asWorkspaceEdit(edit));
    }
    const after = await Promise.all(planned.map((f) => currentText(f.uri)));
    const files = planned.map((f, i): FileOutcome => {
      const expected = f.action === 'delete' ? undefined : applyTextEdits(before[i] ?? '', f.edits);
      return {
        path: vscode.workspace.asRelativePath(vscode.Uri.parse(f.uri), false),
        action: f.action,
        outcome: f.action === 'rename' ? (applied ? 'applied' : 'not applied') : judge(applied, before[i], after[i], expected),
      };
    });
    return { label, applied, files };
  }

}

/** "modify calc.py — applied" lines for the chat view. */
export function describeOutcomes(outcomes: EditOutcome[]): string[] {
  return outcomes.flatMap((o) => o.files.map((f) => `${f.action} ${f.path} — ${f.outcome}`));
}
