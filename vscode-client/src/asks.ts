/**
 * The server's questions (`window/showMessageRequest`: run a command, call an MCP tool, start an MCP server,
 * bind a key) as MODAL dialogs. The language client's default is a notification that is easy to miss while
 * the agent waits; a dismissed dialog answers null, which the server takes as a refusal.
 */
import * as vscode from 'vscode';
import {
  MessageType,
  ShowMessageRequest,
  type LanguageClient,
  type MessageActionItem,
  type ShowMessageRequestParams,
} from 'vscode-languageclient/node';

/** The first line is the dialog's title; the rest (the command, why it is asked, the warnings) its detail. */
export function splitQuestion(message: string): { title: string; detail?: string } {
  const newline = message.indexOf('\n');
  if (newline < 0) return { title: message };
  const detail = message.slice(newline + 1).trim();
  return { title: message.slice(0, newline).trim(), detail: detail || undefined };
}

/** Show one question modally with the server's own actions; Cancel/Escape answers null. */
export async function askModally(params: ShowMessageRequestParams): Promise<MessageActionItem | null> {
  const { title, detail } = splitQuestion(params.message);
  const actions = (params.actions ?? []).map((action) => ({ title: action.title, action }));
  const show = params.type === MessageType.Error ? vscode.window.showErrorMessage
    : params.type === MessageType.Warning ? vscode.window.showWarningMessage
      : vscode.window.showInformationMessage;
  const picked = await show(title, { modal: true, detail }, ...actions);
  return picked?.action ?? null;
}

/** Route every `window/showMessageRequest` of this client to `askModally` (it replaces the default handler). */
export function registerModalAsks(client: LanguageClient): vscode.Disposable {
  return client.onRequest(ShowMessageRequest.type, askModally);
}
