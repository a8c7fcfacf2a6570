/**
 * `BYOK: MCP Servers`: `byok.mcpStatus` in a quick pick (name, state, transport, tools, error), with the
 * actions that fit each state, and a read-only document listing every server's tools and resources.
 */
import * as vscode from 'vscode';
import { Command, UiCommand, type CommandId, type McpServerStatus, type McpStatusResult } from './protocol';

export type Exec = <T>(command: CommandId, args: object) => Promise<T>;

const SCHEME = 'byok-mcp';
const STATE_ICON: Record<McpServerStatus['state'], string> = {
  running: '$(pass-filled)', starting: '$(loading~spin)', failed: '$(error)', stopped: '$(circle-outline)',
  disabled: '$(circle-slash)', 'not approved': '$(question)', found: '$(file)',
};

/** What each state means to the user, and what to do about it. */
function explain(server: McpServerStatus): string {
  switch (server.state) {
    case 'stopped': return 'approved; starts on the agent\'s next run';
    case 'not approved': return 'starts after you allow it: the agent\'s next run asks (BYOK: Restart Server asks again after "Don\'t start")';
    case 'found': return `in ${server.source ?? 'the workspace'}: never started from the workspace; add it to your user settings (byok.mcp.servers) to use it`;
    case 'disabled': return 'enabled: false in byok.mcp.servers';
    default: return server.error ?? '';
  }
}

/** The status as Markdown, for the read-only document. */
export function statusMarkdown(servers: McpServerStatus[]): string {
  if (servers.length === 0) {
    return '# MCP servers\n\nNone configured. Add servers under `byok.mcp.servers` in your user settings.\n';
  }
  const parts = ['# MCP servers', ''];
  for (const s of servers) {
    parts.push(`## ${s.name}`, '', `- state: **${s.state}** (${s.transport})${s.source ? `, from \`${s.source}\`` : ''}`);
    const why = explain(s);
    if (why) parts.push(`- ${s.error ? 'error' : 'note'}: ${why}`);
    if (s.tools.length) {
      parts.push('', `### Tools (${s.tools.length})`, '', ...s.tools.map((t) => `- \`${t.name}\`${t.description ? ` — ${t.description.split('\n')[0]}` : ''}`));
    }
    if (s.resources.length) {
      parts.push('', `### Resources (${s.resources.length})`, '', ...s.resources.map((r) => `- \`${r.uri}\`${r.name ? ` — ${r.name}` : ''}`));
    }
    parts.push('');
  }
  return parts.join('\n');
}

interface ServerItem extends vscode.QuickPickItem {
  server?: McpServerStatus;
}

export class McpServers implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private latest: McpServerStatus[] = [];

  constructor(private readonly exec: Exec) {}

  register(): vscode.Disposable {
    return vscode.Disposable.from(vscode.workspace.registerTextDocumentContentProvider(SCHEME, this), this.changed);
  }

  provideTextDocumentContent(): string {
    return statusMarkdown(this.latest);
  }

  private async refresh(): Promise<McpServerStatus[]> {
    this.latest = (await this.exec<McpStatusResult>(Command.mcpStatus, {})).servers ?? [];
    this.changed.fire(vscode.Uri.parse(`${SCHEME}:/MCP servers.md`));
    return this.latest;
  }

  /** The command: the quick pick; picking a server offers what fits its state. */
  async show(): Promise<void> {
    const servers = await this.refresh();
    const details = { label: '$(book) Show all tools and resources', description: 'read-only document' };
    const settings = { label: '$(gear) Open MCP settings', description: 'byok.mcp' };
    const items: ServerItem[] = [
      ...servers.map((s): ServerItem => ({
        label: `${STATE_ICON[s.state] ?? ''} ${s.name}`,
        description: `${s.state} · ${s.transport} · ${s.tools.length} tool${s.tools.length === 1 ? '' : 's'}`,
        detail: explain(s) || (s.tools.length ? s.tools.map((t) => t.name).join(', ') : undefined),
        server: s,
      })),
      { label: '', kind: vscode.QuickPickItemKind.Separator },
      details,
      settings,
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title: `BYOK: MCP Servers (${servers.length})`, placeHolder: servers.length ? 'Pick a server for its actions' : 'No MCP servers configured',
      matchOnDescription: true, matchOnDetail: true,
    });
    if (picked === undefined) return;
    if (picked === settings) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'byok.mcp');
    } else if (picked === details) {
      await this.openDocument();
    } else if (picked.server) {
      await this.serverActions(picked.server);
    }
  }

  private async openDocument(): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(`${SCHEME}:/MCP servers.md`));
    await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
    await vscode.window.showTextDocument(doc, { preview: true });
  }

  private async serverActions(server: McpServerStatus): Promise<void> {
    const actions: { label: string; run: () => Thenable<unknown> }[] = [
      { label: '$(book) Show tools and resources', run: () => this.openDocument() },
    ];
    if (server.state === 'failed' || server.state === 'starting' || server.error) {
      actions.push({ label: '$(output) Show Logs (the server\'s stderr)', run: () => vscode.commands.executeCommand(UiCommand.showLogs) });
    }
    if (server.state === 'found' && server.source) {
      const folder = vscode.workspace.workspaceFolders?.[0];
      if (folder) {
        actions.push({ label: `$(go-to-file) Open ${server.source}`,
          run: () => vscode.window.showTextDocument(vscode.Uri.joinPath(folder.uri, server.source ?? '')) });
      }
    }
    if (server.state === 'not approved') {
      actions.push({ label: '$(debug-restart) Restart the byok server (asks again)', run: () => vscode.commands.executeCommand(UiCommand.restart) });
    }
    actions.push({ label: '$(gear) Open MCP settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'byok.mcp') });
    const picked = await vscode.window.showQuickPick(actions, { title: `MCP server ${server.name}: ${server.state}` });
    await picked?.run();
  }
}
