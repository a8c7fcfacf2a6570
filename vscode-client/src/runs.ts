/**
 * Composer (Edit mode) and Agent runs from VS Code: the request goes out with `review: "preview"` unless the
 * user set `byok.composer.review` / `byok.agent.review` to `apply`; the server sends the edit with
 * `workspace/applyEdit` (VS Code's refactor preview when reviewing), and the answer lists each file the edit
 * touched and what became of it, plus the checkpoint the chat view's Restore button restores.
 */
import * as vscode from 'vscode';
import { agentAnswer, composerAnswer, type Answer, type FileLine } from './answers';
import { Command, type AgentResult, type CommandId, type ComposerResult, type Delta, type ReviewMode } from './protocol';
import type { EditOutcome, EditReview } from './review';

/** Run a streaming server command (extension.ts's execStreaming). */
export type StreamingExec = <T>(command: CommandId, args: object, token: vscode.CancellationToken,
  onDelta: (delta: Delta) => void) => Promise<T>;

export interface RunRequest {
  prompt: string;
  files: string[];
  model?: string;
}

/** The review mode for `feature`: the user's `byok.<feature>.review`, else `preview` (VS Code can show one). */
export function reviewMode(feature: 'composer' | 'agent'): ReviewMode {
  const setting = vscode.workspace.getConfiguration('byok').get<{ review?: ReviewMode }>(feature)?.review;
  return setting === 'apply' ? 'apply' : 'preview';
}

/** The answer's file lines with what VS Code did to each (when an edit reached it), else the result's own. */
function withOutcomes(answer: Answer, outcomes: EditOutcome[]): Answer {
  const files: FileLine[] = outcomes.flatMap((o) => o.files.map((f) => ({ path: f.path, action: f.action, outcome: f.outcome })));
  return files.length ? { ...answer, files } : answer;
}

export class Runs {
  constructor(private readonly exec: StreamingExec, private readonly review: EditReview) {}

  /** Composer: one answer merged into one WorkspaceEdit, sent to the editor by the server. */
  async composer(request: RunRequest, token: vscode.CancellationToken, onDelta: (d: Delta) => void): Promise<Answer> {
    const [res, outcomes] = await this.review.during(() => this.exec<ComposerResult>(Command.composer, {
      instruction: request.prompt, files: request.files, apply: true, review: reviewMode('composer'),
      ...(request.model ? { model: request.model } : {}),
    }, token, onDelta));
    return withOutcomes(composerAnswer(res, res.applied ?? undefined), outcomes);
  }

  /** Agent: tool calls (asked about in modal dialogs), its edits sent to the editor at the end. */
  async agent(request: RunRequest, token: vscode.CancellationToken, onDelta: (d: Delta) => void): Promise<Answer> {
    const [res, outcomes] = await this.review.during(() => this.exec<AgentResult>(Command.agent, {
      task: request.prompt, files: request.files, review: reviewMode('agent'),
      ...(request.model ? { model: request.model } : {}),
    }, token, onDelta));
    return withOutcomes(agentAnswer(res), outcomes);
  }
}
