/**
 * `BYOK: Restore Checkpoint`: a quick pick of `byok.checkpoints` (or the id the chat view's Restore button
 * passes), a modal confirmation naming the files, then `byok.restoreCheckpoint` with the edit applied through
 * VS Code. The report says what each file became and offers to undo the restore (its own checkpoint).
 */
import * as vscode from 'vscode';
import { Command, type CheckpointEntry, type CommandId, type RestoreResult } from './protocol';
import { describeOutcomes, type EditReview } from './review';

export type Exec = <T>(command: CommandId, args: object) => Promise<T>;

/** What a restore did, for whoever ran the command (the chat view shows it). */
export interface RestoreReport {
  id: string;
  applied: boolean;
  files: string[];
  /** The checkpoint of the files as they were just before: restoring it undoes the restore. */
  undo: string | null;
}

const FEATURE_LABEL: Record<CheckpointEntry['feature'], string> = {
  agent: 'Agent', composer: 'Composer', restore: 'Before a restore',
};

/** "3 min ago", "yesterday 14:02"-style age of an ISO time. */
export function describeAge(iso: string, now = Date.now()): string {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return iso;
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

function describeFileList(files: string[], max = 5): string {
  return files.length <= max ? files.join(', ') : `${files.slice(0, max).join(', ')} and ${files.length - max} more`;
}

export class Checkpoints {
  constructor(private readonly exec: Exec, private readonly review: EditReview) {}

  /** The command: restore `id` (from the chat view) or one picked from the list; undefined when cancelled. */
  async restoreCommand(id?: unknown): Promise<RestoreReport | undefined> {
    const list = await this.exec<CheckpointEntry[]>(Command.checkpoints, {});
    const entry = typeof id === 'string' ? list.find((c) => c.id === id) : await this.pick(list);
    if (entry === undefined) {
      if (typeof id === 'string') {
        throw new Error(`checkpoint ${id} is gone (dropped as the oldest, or from another workspace)`);
      }
      return undefined;
    }
    const confirm = 'Restore';
    const answer = await vscode.window.showWarningMessage(
      `Restore ${entry.files.length} file(s) to how they were before "${entry.summary}"?`,
      { modal: true, detail: `${FEATURE_LABEL[entry.feature]}, ${describeAge(entry.createdAt)}: ${
        describeFileList(entry.files)}.\nThe files' current state is kept as a checkpoint, so the restore can be undone.` },
      confirm);
    if (answer !== confirm) return undefined;
    return this.restore(entry);
  }

  private async pick(list: CheckpointEntry[]): Promise<CheckpointEntry | undefined> {
    if (list.length === 0) {
      void vscode.window.showInformationMessage('byok: no checkpoints in this workspace yet (Composer and Agent record one per run)');
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(list.map((c) => ({
      label: c.summary || '(no summary)',
      description: `${FEATURE_LABEL[c.feature]} · ${describeAge(c.createdAt)}`,
      detail: describeFileList(c.files),
      entry: c,
    })), { title: 'BYOK: Restore Checkpoint', placeHolder: 'Put the files back as they were before…', matchOnDetail: true });
    return picked?.entry;
  }

  private async restore(entry: CheckpointEntry): Promise<RestoreReport> {
    const [res, outcomes] = await this.review.during(
      () => this.exec<RestoreResult>(Command.restoreCheckpoint, { id: entry.id, apply: true }));
    const skipped = res.files.filter((f) => f.action === 'skipped').map((f) => `skipped ${f.path}: ${f.reason ?? ''}`);
    const changedSince = res.files.filter((f) => f.changedSince).map((f) => f.path);
    const report: RestoreReport = {
      id: entry.id,
      applied: res.applied ?? false,
      files: [...describeOutcomes(outcomes), ...skipped],
      undo: res.checkpoint,
    };
    void this.announce(report, res, changedSince);
    return report;
  }

  private async announce(report: RestoreReport, res: RestoreResult, changedSince: string[]): Promise<void> {
    if (res.checkpoint === null) {
      void vscode.window.showInformationMessage('byok: nothing to restore: the files are already as in the checkpoint');
      return;
    }
    if (!report.applied) {
      void vscode.window.showWarningMessage(`byok: the restore was not applied (${report.files.join('; ') || 'no files'})`);
      return;
    }
    const restored = res.files.filter((f) => f.action !== 'unchanged' && f.action !== 'skipped').map((f) => f.path);
    const note = changedSince.length ? ` (changed since the run: ${describeFileList(changedSince)})` : '';
    const undo = 'Undo Restore';
    const pick = await vscode.window.showInformationMessage(
      `byok: restored ${describeFileList(restored)}${note}. Save the files to keep it.`, undo);
    if (pick === undo && res.checkpoint) {
      const list = await this.exec<CheckpointEntry[]>(Command.checkpoints, {});
      const entry = list.find((c) => c.id === res.checkpoint);
      if (entry) await this.restore(entry);
    }
  }
}
