/**
 * Composer (Edit mode) and Agent runs from VS Code: the request goes out with `review: "preview"` unless the
 * user set `byok.composer.review` / `byok.agent.review` to `apply`; the server sends the edit with
 * `workspace/applyEdit` (VS Code's refactor preview when reviewing), and the answer lists each file the edit
 * touched and what became of it, plus the checkpoint the chat view's Restore button restores.
 */
import * as vscode from 'vscode';
import { describeUsage, type Answer } from './chat';
import {
  Command,
  type AgentResult,
  type CommandId,
  type ComposerResult,
  type Delta,
  type FileChange,
  type ReviewMode,
  type ToolCall,
} from './protocol';
import { describeOutcomes, type EditOutcome, type EditReview } from './review';

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

/** The files of a result when no edit reached the editor (nothing changed, or the run stopped first). */
function describeFiles(files: FileChange[] | undefined, applied: boolean | undefined): string[] {
  const verdict = applied === false ? ' — not applied' : '';
  return (files ?? []).map((f) => `${f.action ?? 'modify'} ${f.path}${verdict}`);
}

function fileLines(outcomes: EditOutcome[], files: FileChange[] | undefined, applied: boolean | undefined): string[] {
  return outcomes.length ? describeOutcomes(outcomes) : describeFiles(files, applied);
}

/** "run_command `pytest -q`", "read_file src/app.py": one line per tool call. */
export function describeToolCall(call: ToolCall): string {
  const args = (call.arguments ?? {}) as Record<string, unknown>;
  const first = ['command', 'path', 'query', 'pattern'].map((k) => args[k]).find((v) => typeof v === 'string');
  const what = typeof first === 'string' ? (call.name === 'run_command' ? ` \`${first}\`` : ` ${first}`) : '';
  return `${call.name}${what}${call.ok === false ? ' — failed' : ''}`;
}

export class Runs {
  constructor(private readonly exec: StreamingExec, private readonly review: EditReview) {}

  /** Composer: one answer merged into one WorkspaceEdit, sent to the editor by the server. */
  async composer(request: RunRequest, token: vscode.CancellationToken, onDelta: (d: Delta) => void): Promise<Answer> {
    const [res, outcomes] = await this.review.during(() => this.exec<ComposerResult>(Command.composer, {
      instruction: request.prompt, files: request.files, apply: true, review: reviewMode('composer'),
      ...(request.model ? { model: request.model } : {}),
    }, token, onDelta));
    const refused = (res.refused ?? []).map((r) => `refused ${r.path}: ${r.reason}`);
    return {
      text: res.text, reasoning: res.reasoning, footer: describeUsage(res.model, res.usage), codeBlocks: [],
      files: [...fileLines(outcomes, res.files, res.applied), ...refused],
      checkpoint: res.checkpoint ?? undefined,
    };
  }

  /** Agent: tool calls (asked about in modal dialogs), its edits sent to the editor at the end. */
  async agent(request: RunRequest, token: vscode.CancellationToken, onDelta: (d: Delta) => void): Promise<Answer> {
    const [res, outcomes] = await this.review.during(() => this.exec<AgentResult>(Command.agent, {
      task: request.prompt, files: request.files, review: reviewMode('agent'),
      ...(request.model ? { model: request.model } : {}),
    }, token, onDelta));
    const steps = (res.steps ?? []).flatMap((s) => (s.toolCalls ?? []).map((c) => `tool: ${describeToolCall(c)}`));
    return {
      text: res.summary, footer: describeUsage(res.model, res.usage), codeBlocks: [],
      files: [...steps, ...fileLines(outcomes, res.files, res.applied)],
      checkpoint: res.checkpoint ?? undefined,
    };
  }
}
