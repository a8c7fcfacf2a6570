import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ErrorData } from './protocol';

export const BUILTIN_PROVIDERS = [
  'openai', 'anthropic', 'google', 'azure', 'bedrock', 'ollama', 'lmstudio', 'vllm', 'together', 'openrouter',
];

export interface ServerCommand {
  command: string;
  args: string[];
  source: string;
}

/** An executable file found on PATH (or the path itself when it has a directory part). */
export function findExecutable(name: string): string | undefined {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];
  const isExe = (file: string): boolean => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/') || name.includes('\\')) {
    return isExe(name) ? name : undefined;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const ext of exts) {
      const file = path.join(dir, name + ext);
      if (isExe(file)) {
        return file;
      }
    }
  }
  return undefined;
}

/** `byok.server.command` (array or string), else `byok-server` on PATH, else `<python> -m byok`. */
export function resolveServerCommand(cfg: vscode.WorkspaceConfiguration): ServerCommand {
  const setting = cfg.get<string[] | string | null>('server.command');
  const argv = Array.isArray(setting)
    ? setting.filter((part) => typeof part === 'string')
    : typeof setting === 'string'
      ? setting.trim().split(/\s+/).filter(Boolean)
      : [];
  if (argv.length > 0) {
    return { command: argv[0], args: argv.slice(1), source: 'byok.server.command' };
  }
  const onPath = findExecutable('byok-server');
  if (onPath !== undefined) {
    return { command: onPath, args: [], source: 'byok-server on PATH' };
  }
  const python = cfg.get<string>('server.python') || 'python3';
  return { command: python, args: ['-m', 'byok'], source: 'byok.server.python' };
}

/** The `byok.*` settings as plain JSON, as the server reads them. */
export function byokSettings(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(vscode.workspace.getConfiguration('byok'))) as Record<string, unknown>;
}

/** The byok error data of a JSON-RPC error (or the error itself when it carries no data). */
export function errorData(err: unknown): ErrorData {
  const obj = (err ?? {}) as { data?: unknown };
  const data = typeof obj.data === 'object' && obj.data !== null ? obj.data : obj;
  return data;
}

/** One line for a user: the server's cause, its fix, then the provider's own message when it differs. */
export function describeError(err: unknown): string {
  const obj = (err ?? {}) as { message?: unknown };
  const data = errorData(err);
  const message = String(data.message ?? obj.message ?? err);
  const parts = [data.cause ?? message];
  if (data.fix) {
    parts.push(`Fix: ${data.fix}`);
  }
  if (data.cause && message !== data.cause) {
    parts.push(`(${message})`);
  }
  return parts.join(' — ');
}

export function isCancellation(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return err instanceof vscode.CancellationError || code === -32800 || code === -32802;
}

export function nonce(): string {
  return Array.from({ length: 24 }, () => Math.floor(Math.random() * 36).toString(36)).join('');
}
