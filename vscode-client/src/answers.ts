/**
 * The chat view's answers from the server's results (chat, composer, agent): what the view shows and keeps
 * in its history. Pure data shaping, no VS Code API, so the webview's script can share the types.
 */
import type { AgentResult, ChatResult, CodeBlock, ComposerResult, ErrorData, FileChange, ToolCall, Usage } from './protocol';

/** One tool call as a collapsible line: `title` ("read src/app.py", "ran `pytest -q` — exit 1"), `detail` its
 * arguments and result as the server logged them. */
export interface ToolLine {
  title: string;
  detail: string;
  ok: boolean;
}

export interface StepView {
  text: string;
  reasoning?: string;
  tools: ToolLine[];
}

export interface FileLine {
  path: string;
  action: string;
}

export interface AnswerError {
  cause: string;
  fix?: string;
  code?: string;
}

/** One finished answer as the view shows it (and keeps in the workspace's history). */
export interface Answer {
  text: string;
  reasoning?: string;
  footer: string;
  codeBlocks: CodeBlock[];
  /** The `status` deltas (retry waits, fallbacks, steps) in the order they came. */
  notes?: string[];
  steps?: StepView[];
  files?: FileLine[];
  /** Whether VS Code applied the edit; absent when there was nothing to apply. */
  applied?: boolean | null;
  /** The checkpoint a Restore button puts back. */
  checkpoint?: string | null;
  stopReason?: string;
  error?: AnswerError;
}

/** "fake-model · 1200 in (1024 cached) / 80 out tokens · $0.0042" */
export function describeUsage(model: string | undefined, usage: Usage | undefined): string {
  const parts = model ? [model] : [];
  if (usage) {
    const cached = usage.cacheReadTokens ? ` (${usage.cacheReadTokens} cached)` : '';
    const reasoning = usage.reasoningTokens ? `, ${usage.reasoningTokens} reasoning` : '';
    parts.push(`${usage.inputTokens ?? 0} in${cached} / ${usage.outputTokens ?? 0} out tokens${reasoning}${
      usage.estimated ? ' (estimated)' : ''}`);
    parts.push(typeof usage.costUsd === 'number' ? `$${usage.costUsd.toFixed(4)}` : 'cost unknown');
    if (typeof usage.savedUsd === 'number' && usage.savedUsd !== 0) {
      parts.push(`caching saved $${usage.savedUsd.toFixed(4)}`);
    }
  }
  return parts.join(' · ');
}

export function chatAnswer(result: ChatResult): Answer {
  return {
    text: result.text,
    reasoning: result.reasoning,
    footer: describeUsage(result.model, result.usage),
    codeBlocks: result.codeBlocks ?? [],
  };
}

function fileLines(files: FileChange[] | undefined): FileLine[] {
  return (files ?? []).map((f) => ({ path: f.path, action: f.action ?? 'modify' }));
}

/** `applied`: whether VS Code took the composer's edit (undefined when it had none). */
export function composerAnswer(result: ComposerResult, applied: boolean | undefined): Answer {
  return {
    text: result.text,
    reasoning: result.reasoning,
    footer: describeUsage(result.model, result.usage),
    codeBlocks: [],
    files: fileLines(result.files),
    applied,
    checkpoint: result.checkpoint,
  };
}

export function agentAnswer(result: AgentResult): Answer {
  const stopped = result.stopReason && result.stopReason !== 'done' ? `stopped: ${result.stopReason}` : undefined;
  return {
    text: result.summary,
    footer: [describeUsage(result.model, result.usage), stopped].filter(Boolean).join(' · '),
    codeBlocks: [],
    steps: (result.steps ?? []).map((s) => ({ text: s.text, reasoning: s.reasoning, tools: (s.toolCalls ?? []).map(toolLine) })),
    files: fileLines(result.files),
    applied: result.applied,
    checkpoint: result.checkpoint,
    stopReason: result.stopReason,
    error: result.error ? errorOf(result.error, result.error.message ?? '') : undefined,
  };
}

/** The answer for a failed request: the error table's cause and fix. */
export function errorOf(data: ErrorData, message: string): AnswerError {
  const cause = data.cause ?? data.message ?? message;
  const said = data.message && data.message !== cause ? ` (${data.message})` : '';
  return { cause: `${cause}${said}`, fix: data.fix, code: data.code };
}

function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
  return text.replace(/\s+/g, ' ').trim();
}

/** "ran `pytest -q` — exit 1" from run_command's result, which starts `$ <command>\nexit code <n>`. */
function commandOutcome(result: string | undefined, ok: boolean): string {
  const head = (result ?? '').split('\n', 3)[1] ?? '';
  const code = /^exit code (-?\d+)/.exec(head);
  if (code) return `exit ${code[1]}`;
  if (/^timed out/.test(head)) return 'timed out';
  return ok ? 'done' : 'not run';
}

/** A tool call's one-line title and its detail. */
export function toolLine(call: ToolCall): ToolLine {
  const args = call.arguments ?? {};
  const ok = call.ok !== false;
  const subject = quote(args.path ?? args.query ?? args.command ?? '');
  const failed = ok ? '' : ' — failed';
  let title: string;
  switch (call.name) {
    case 'read_file':
      title = `read ${subject}${failed}`;
      break;
    case 'list_files':
      title = `listed ${subject || '.'}${failed}`;
      break;
    case 'search':
      title = `searched for "${subject}"${failed}`;
      break;
    case 'edit_file':
      title = `edited ${subject}${failed}`;
      break;
    case 'create_file':
      title = `created ${subject}${failed}`;
      break;
    case 'run_command':
      title = `ran \`${subject}\` — ${commandOutcome(call.result, ok)}`;
      break;
    default:
      title = `called ${call.name}${failed}`;
  }
  const shownArgs = Object.keys(args).length ? JSON.stringify(args, null, 1) : '';
  return { title, detail: [shownArgs, call.result ?? ''].filter(Boolean).join('\n\n'), ok };
}
