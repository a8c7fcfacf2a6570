/**
 * The server's questions (`window/showMessageRequest`: run a command, call an MCP tool, start an MCP server,
 * bind a key) as MODAL dialogs. The language client's default is a notification that is easy to miss while
 * the agent waits; a dismissed dialog answers null, which the server takes as a refusal.
 *
 * A question the server gives up on (no answer within `byok.agent.permissionTimeoutS`, or its command was
 * cancelled) arrives as `$/cancelRequest`: VS Code cannot close a modal dialog, so the dialog stays, but
 * the timeout is said at once (a warning, and a note in the chat's running answer) and the late answer is
 * ignored here as it is by the server.
 */
import * as vscode from 'vscode';
import {
  MessageType,
  ShowMessageRequest,
  type CancellationToken,
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

export class ModalAsks implements vscode.Disposable {
  private readonly withdrawn = new vscode.EventEmitter<string>();
  /** A question's title, when the server withdrew it before the user answered. */
  readonly onDidWithdraw = this.withdrawn.event;

  /** Route every `window/showMessageRequest` of `client` here (it replaces the default handler). */
  register(client: LanguageClient): vscode.Disposable {
    return client.onRequest(ShowMessageRequest.type, (params, token) => this.ask(params, token));
  }

  /** Show one question modally with the server's own actions; Cancel/Escape, or an answer after the server
   * withdrew the question, answers null. */
  async ask(params: ShowMessageRequestParams, token: CancellationToken): Promise<MessageActionItem | null> {
    const { title, detail } = splitQuestion(params.message);
    const actions = (params.actions ?? []).map((action) => ({ title: action.title, action }));
    const show = params.type === MessageType.Error ? vscode.window.showErrorMessage
      : params.type === MessageType.Warning ? vscode.window.showWarningMessage
        : vscode.window.showInformationMessage;
    const onWithdraw = token.onCancellationRequested(() => {
      const question = title.replace(/[\s:]+$/, '');
      this.withdrawn.fire(question);
      void vscode.window.showWarningMessage(`byok stopped waiting for "${question}" (no answer in time, or the ` +
        'request was stopped): taken as a refusal. Close the dialog: answering it now changes nothing.');
    });
    try {
      const picked = await show(title, { modal: true, detail }, ...actions);
      if (token.isCancellationRequested) {
        if (picked !== undefined) {
          void vscode.window.showInformationMessage(`byok: "${picked.title}" came too late: byok had stopped waiting, ` +
            'so it took it as a refusal and did nothing.');
        }
        return null;
      }
      return picked?.action ?? null;
    } finally {
      onWithdraw.dispose();
    }
  }

  dispose(): void {
    this.withdrawn.dispose();
  }
}
