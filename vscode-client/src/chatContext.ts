/**
 * The chat's context chips: the active file and its selection (attached by default, removable), and files or
 * MCP resources the user adds with `@` or the + button. They go to the server as the request's `files`
 * (workspace uris and `mcp://` entries); the selection goes into the prompt itself, naming its lines.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { mcpResourceEntry, type McpStatusResult } from './protocol';

/** A chip as the webview shows it. */
export interface Chip {
  id: string;
  kind: 'file' | 'selection' | 'mcp';
  label: string;
  detail: string;
  auto: boolean;
}

export interface SelectionContext {
  path: string;
  startLine: number;
  endLine: number;
  language: string;
  text: string;
}

/** What a request sends: `files` entries and the selection. */
export interface RequestContext {
  files: string[];
  selection?: SelectionContext;
  labels: string[];
}

interface Added {
  chip: Chip;
  entry: string;
}

/** Files a quick pick never offers. */
const EXCLUDE = '**/{node_modules,.git,.venv,venv,__pycache__,dist,out,build,.mypy_cache,.pytest_cache}/**';
const MAX_PICK_FILES = 5000;

/** The prompt with the selection after it, fenced and naming its file and lines. */
export function withSelection(prompt: string, selection: SelectionContext | undefined): string {
  if (selection === undefined) return prompt;
  const fence = selection.text.includes('```') ? '````' : '```';
  return `${prompt}\n\nSelected in ${selection.path}, lines ${selection.startLine}-${selection.endLine}:\n` +
    `${fence}${selection.language}\n${selection.text}\n${fence}`;
}

export class ChatContext implements vscode.Disposable {
  private editor: vscode.TextEditor | undefined;
  private added: Added[] = [];
  /** Auto chips the user removed (by id); they come back when the file or selection changes. */
  private dismissed = new Set<string>();
  private readonly changed = new vscode.EventEmitter<Chip[]>();
  readonly onDidChange = this.changed.event;
  private readonly subscriptions: vscode.Disposable[];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly mcpStatus: () => Promise<McpStatusResult>) {
    this.editor = usable(vscode.window.activeTextEditor);
    this.subscriptions = [
      this.changed,
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (usable(e)) {
          this.editor = e;
          this.fire();
        }
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor === this.editor) this.fire();
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        if (doc === this.editor?.document) {
          this.editor = usable(vscode.window.activeTextEditor);
          this.fire();
        }
      }),
    ];
  }

  /** Debounced: selections change on every cursor move. */
  private fire(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(this.chips()), 150);
  }

  private autoChips(): { chip: Chip; entry?: string; selection?: SelectionContext }[] {
    const doc = this.editor?.document;
    if (doc === undefined || doc.isClosed) return [];
    const rel = vscode.workspace.asRelativePath(doc.uri);
    const out: { chip: Chip; entry?: string; selection?: SelectionContext }[] = [{
      chip: { id: `file:${doc.uri.toString()}`, kind: 'file', label: path.basename(doc.uri.path), detail: `${rel} (the active file)`, auto: true },
      entry: doc.uri.toString(),
    }];
    const sel = this.editor?.selection;
    if (sel && !sel.isEmpty) {
      const endLine = sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line : sel.end.line + 1;
      const startLine = sel.start.line + 1;
      const text = doc.getText(new vscode.Range(sel.start, sel.end));
      out.push({
        chip: { id: `selection:${doc.uri.toString()}:${startLine}-${endLine}:${text.length}`, kind: 'selection',
          label: `${path.basename(doc.uri.path)}:${startLine}-${endLine}`, detail: `the selected lines of ${rel}`, auto: true },
        selection: { path: rel, startLine, endLine, language: doc.languageId, text },
      });
    }
    return out.filter((a) => !this.dismissed.has(a.chip.id));
  }

  chips(): Chip[] {
    return [...this.autoChips().map((a) => a.chip), ...this.added.map((a) => a.chip)];
  }

  /** What the next request sends. */
  request(): RequestContext {
    const auto = this.autoChips();
    const files = [...new Set([...auto.flatMap((a) => (a.entry ? [a.entry] : [])), ...this.added.map((a) => a.entry)])];
    const chips = [...auto.map((a) => a.chip), ...this.added.map((a) => a.chip)];
    return { files, selection: auto.find((a) => a.selection)?.selection, labels: chips.map((c) => c.label) };
  }

  remove(id: string): void {
    const before = this.added.length;
    this.added = this.added.filter((a) => a.chip.id !== id);
    if (this.added.length === before) this.dismissed.add(id);
    this.changed.fire(this.chips());
  }

  /** Forget the added chips and the removed auto ones (New chat). */
  reset(): void {
    this.added = [];
    this.dismissed.clear();
    this.changed.fire(this.chips());
  }

  /** The quick pick of workspace files and MCP resources; true when something was added. */
  async pick(): Promise<boolean> {
    const resources = this.mcpStatus().then((s) => s.servers.flatMap((server) =>
      server.resources.map((r) => ({ server: server.name, uri: r.uri, name: r.name ?? r.uri })))).catch(() => []);
    const [files, mcp] = await Promise.all([vscode.workspace.findFiles('**/*', EXCLUDE, MAX_PICK_FILES), resources]);
    type Item = vscode.QuickPickItem & { entry?: string; chip?: Chip };
    const open = new Set(vscode.window.tabGroups.all.flatMap((g) => g.tabs).flatMap((t) =>
      t.input instanceof vscode.TabInputText ? [t.input.uri.toString()] : []));
    const fileItem = (uri: vscode.Uri): Item => {
      const rel = vscode.workspace.asRelativePath(uri);
      return { label: path.basename(uri.path), description: rel, entry: uri.toString(),
        chip: { id: `file:${uri.toString()}`, kind: 'file', label: path.basename(uri.path), detail: rel, auto: false } };
    };
    const sorted = files.sort((a, b) => vscode.workspace.asRelativePath(a).localeCompare(vscode.workspace.asRelativePath(b)));
    const items: Item[] = [
      { label: 'Open editors', kind: vscode.QuickPickItemKind.Separator },
      ...sorted.filter((u) => open.has(u.toString())).map(fileItem),
      { label: 'Files', kind: vscode.QuickPickItemKind.Separator },
      ...sorted.filter((u) => !open.has(u.toString())).map(fileItem),
    ];
    if (mcp.length) {
      items.push({ label: 'MCP resources', kind: vscode.QuickPickItemKind.Separator }, ...mcp.map((r): Item => {
        const entry = mcpResourceEntry(r.server, r.uri);
        return { label: `$(plug) ${r.name}`, description: `${r.server} · ${r.uri}`, entry,
          chip: { id: entry, kind: 'mcp', label: r.name, detail: `MCP resource ${r.uri} of ${r.server}`, auto: false } };
      }));
    }
    const picked = await vscode.window.showQuickPick(items, {
      title: 'BYOK: Add Context', placeHolder: 'Files or MCP resources to send with the chat', canPickMany: true,
      matchOnDescription: true,
    });
    const fresh = (picked ?? []).filter((i): i is Item & { entry: string; chip: Chip } =>
      i.entry !== undefined && i.chip !== undefined && !this.added.some((a) => a.entry === i.entry));
    this.added.push(...fresh.map((i) => ({ chip: i.chip, entry: i.entry })));
    this.changed.fire(this.chips());
    return fresh.length > 0;
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subscriptions) s.dispose();
  }
}

/** An editor on a workspace file (not an output channel, a diff's proposed side or a webview). */
function usable(editor: vscode.TextEditor | undefined): vscode.TextEditor | undefined {
  return editor?.document.uri.scheme === 'file' ? editor : undefined;
}
