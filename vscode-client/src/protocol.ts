/**
 * The server's command ids, notification and result shapes, defined once for the client.
 * tests/unit/test_protocol_doc.py holds these ids against protocol.md and server/byok/base/names.py.
 */
import type { WorkspaceEdit } from 'vscode-languageclient/node';

/** `workspace/executeCommand` ids; each takes ONE object argument with camelCase keys. */
export const Command = {
  setKey: 'byok.setKey',
  bindKey: 'byok.bindKey',
  deleteKey: 'byok.deleteKey',
  listKeys: 'byok.listKeys',
  verifyKey: 'byok.verifyKey',
  listModels: 'byok.listModels',
  status: 'byok.status',
  chat: 'byok.chat',
  apply: 'byok.apply',
  inlineEdit: 'byok.inlineEdit',
  composer: 'byok.composer',
  agent: 'byok.agent',
  usage: 'byok.usage',
  checkpoints: 'byok.checkpoints',
  restoreCheckpoint: 'byok.restoreCheckpoint',
  forgetApprovals: 'byok.forgetApprovals',
  mcpStatus: 'byok.mcpStatus',
} as const;
export type CommandId = (typeof Command)[keyof typeof Command];

/** The extension's own commands (contributed in package.json) that other parts of the client run by id. */
export const UiCommand = {
  setKey: 'byok.ui.setKey',
  verifyKey: 'byok.ui.verifyKey',
  bindKey: 'byok.ui.bindKey',
  deleteKey: 'byok.ui.deleteKey',
  chat: 'byok.ui.chat',
  composer: 'byok.ui.composer',
  agent: 'byok.ui.agent',
  newChat: 'byok.ui.newChat',
  apply: 'byok.ui.apply',
  acceptChange: 'byok.ui.acceptChange',
  rejectChange: 'byok.ui.rejectChange',
  inlineEdit: 'byok.ui.inlineEdit',
  statusMenu: 'byok.ui.statusMenu',
  usage: 'byok.ui.usage',
  restoreCheckpoint: 'byok.ui.restoreCheckpoint',
  mcpServers: 'byok.ui.mcpServers',
  showLogs: 'byok.ui.showLogs',
  restart: 'byok.ui.restart',
} as const;

/** Server-to-client notifications. */
export const Notification = {
  stream: 'byok/stream',
} as const;

export interface Delta {
  type: 'text' | 'reasoning' | 'status';
  text: string;
}

export interface StreamParams {
  streamId?: string;
  delta?: Delta;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  /** Parts of inputTokens read from / written to the provider's prompt cache. */
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
  estimated?: boolean;
  costUsd?: number | null;
  /** What prompt caching saved against uncached prices (negative: writes cost more than reads saved). */
  savedUsd?: number | null;
}

export interface CodeBlock {
  language: string;
  path?: string;
  code: string;
}

export interface ChatResult {
  text: string;
  reasoning?: string;
  model?: string;
  provider?: string;
  finishReason?: string;
  usage?: Usage;
  codeBlocks?: CodeBlock[];
}

/** A `byok.listModels` entry; `hasKey` is false when no key is stored for the provider. */
export interface ModelEntry {
  id: string;
  provider: string;
  features: string[];
  builtin: boolean;
  hasKey?: boolean;
  contextWindow?: number | null;
}

export interface FileChange {
  uri?: string;
  path: string;
  action?: 'modify' | 'create' | 'delete';
}

export interface ComposerResult {
  edit?: WorkspaceEdit;
  files?: FileChange[];
  refused?: { path: string; reason: string }[];
  text: string;
  reasoning?: string;
  model?: string;
  usage?: Usage;
  applied?: boolean;
  /** The checkpoint id `byok.restoreCheckpoint` takes; null when nothing changed. */
  checkpoint?: string | null;
}

/** One tool call of an agent step: arguments cut to 200 characters, the result to 500 (redacted). */
export interface ToolCall {
  name: string;
  arguments?: Record<string, unknown>;
  ok?: boolean;
  result?: string;
}

export interface AgentStep {
  step: number;
  text: string;
  reasoning?: string;
  toolCalls?: ToolCall[];
}

export interface AgentResult {
  summary: string;
  steps?: AgentStep[];
  stopReason?: string;
  edits?: WorkspaceEdit;
  files?: FileChange[];
  applied?: boolean | null;
  checkpoint?: string | null;
  model?: string;
  usage?: Usage;
  error?: ErrorData;
}

/** A `files` entry naming resource `uri` of MCP server `server` (see protocol.md, MCP servers: Resources). */
export function mcpResourceEntry(server: string, uri: string): string {
  return `mcp://${server}/${encodeURIComponent(uri)}`;
}

export interface StoredKey {
  provider: string;
  source: string;
}

export interface Route {
  endpoint?: string;
  proxy?: string | null;
  caBundle?: string | null;
}

export interface SetKeyResult {
  fingerprint?: string;
  route?: Route;
}

export interface BindKeyResult {
  fingerprint?: string;
  route?: Route;
}

export interface VerifyKeyResult {
  ok: boolean;
  fingerprint?: string;
  models?: unknown[];
  error?: unknown;
}

export interface DeleteKeyResult {
  deleted?: boolean;
}

export interface EditResult {
  edit?: WorkspaceEdit;
  /** `byok.inlineEdit`: the replacement text (the streamed text equals it). */
  newText?: string;
  unresolved?: unknown[];
}

export interface UsageResult {
  totalUsd?: number | null;
  budgetUsd?: number | null;
  unknownCostRequests?: number;
}

/** The `data` of a byok JSON-RPC error (see protocol.md, Errors). */
export interface ErrorData {
  code?: string;
  provider?: string;
  message?: string;
  cause?: string;
  fix?: string;
}

/** `composer.review` / `agent.review`: `preview` opens VS Code's refactor preview before anything lands. */
export type ReviewMode = 'apply' | 'preview';

/** A `byok.checkpoints` entry (newest first). */
export interface CheckpointEntry {
  id: string;
  createdAt: string;
  feature: 'agent' | 'composer' | 'restore';
  summary: string;
  files: string[];
}

/** `byok.restoreCheckpoint`: each file's fate, and the checkpoint of the state before the restore. */
export interface RestoreResult {
  edit?: WorkspaceEdit;
  files: { path: string; action: 'restore' | 'create' | 'delete' | 'unchanged' | 'skipped'; changedSince: boolean;
    reason?: string }[];
  checkpoint: string | null;
  applied?: boolean;
}

/** A `byok.mcpStatus` server. */
export interface McpServerStatus {
  name: string;
  transport: 'stdio' | 'http' | 'sse' | 'unknown';
  state: 'running' | 'starting' | 'failed' | 'stopped' | 'disabled' | 'not approved' | 'found';
  tools: { name: string; description?: string }[];
  resources: { uri: string; name?: string }[];
  error?: string;
  source?: string;
}

export interface McpStatusResult {
  servers: McpServerStatus[];
}
