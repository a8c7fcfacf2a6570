/**
 * The status bar item: the chat model and this month's spend against the budget (`$3.20 / $20`), warning colour
 * from 80 % of the budget; clicking it opens a quick pick (switch model, verify keys, show usage, MCP servers).
 */
import * as vscode from 'vscode';
import { UiCommand, Command, type CommandId, type ModelEntry, type UsageResult } from './protocol';
import { describeError } from './util';

type Exec = <T>(command: CommandId, args: object) => Promise<T>;

/** The quick pick the status bar item opens. */
export const STATUS_MENU_COMMAND = UiCommand.statusMenu;
const WARN_AT = 0.8;

const str = (v: unknown): string | undefined =>
  (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);

function modelOf(feature: unknown): string {
  if (typeof feature === 'string') return feature;
  const o = (feature ?? {}) as Record<string, unknown>;
  const name = str(o.model) ?? str(o.id);
  const provider = str(o.provider);
  return name === undefined ? 'not set' : `${name}${provider ? ` (${provider})` : ''}`;
}

function builtin(feature: unknown): string {
  const name = str((feature as Record<string, unknown> | undefined)?.model);
  return name ? `${name} (built-in model)` : 'built-in model';
}

/** `$20` for whole dollars, else `$20.50`. */
function dollars(amount: number): string {
  return Number.isInteger(amount) ? `$${amount}` : `$${amount.toFixed(2)}`;
}

/** `$3.20 / $20` (or `$3.20` without a budget); `$?` when every request this month lacked a price. */
export function describeSpend(usage: UsageResult): string {
  const unknownOnly = usage.totalUsd == null && (usage.unknownCostRequests ?? 0) > 0;
  const spent = unknownOnly ? '$?' : `$${(usage.totalUsd ?? 0).toFixed(2)}`;
  return typeof usage.budgetUsd === 'number' ? `${spent} / ${dollars(usage.budgetUsd)}` : spent;
}

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('byok.statusItem', vscode.StatusBarAlignment.Right, 100);

  constructor(private readonly exec: Exec) {
    this.item.name = 'byok';
    this.item.text = '$(sparkle) byok';
    this.item.command = STATUS_MENU_COMMAND;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }

  /** The server could not start: say so in the item. */
  showFailure(reason: string): void {
    this.item.text = '$(error) byok';
    this.item.tooltip = `byok server not running: ${reason}`;
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
  }

  /** Re-read `byok.status` and `byok.usage`; either may fail, show what we have. */
  async refresh(): Promise<void> {
    const [status, usage] = await Promise.allSettled([
      this.exec<Record<string, unknown>>(Command.status, {}),
      this.exec<UsageResult>(Command.usage, {}),
    ]);
    const st = (status.status === 'fulfilled' ? status.value : undefined) ?? {};
    const features = (st.features ?? {}) as Record<string, unknown>;
    const u: UsageResult = (usage.status === 'fulfilled' ? usage.value : undefined) ?? {};
    const chat = modelOf(features.chat);
    const spend = usage.status === 'fulfilled' ? ` · ${describeSpend(u)}` : '';
    this.item.text = `$(sparkle) ${chat === 'not set' ? 'byok' : chat.split(' ')[0]}${spend}`;
    const share = typeof u.budgetUsd === 'number' && u.budgetUsd > 0 ? (u.totalUsd ?? 0) / u.budgetUsd : undefined;
    this.item.backgroundColor = share === undefined || share < WARN_AT ? undefined
      : new vscode.ThemeColor(share >= 1 ? 'statusBarItem.errorBackground' : 'statusBarItem.warningBackground');
    const spent = typeof u.totalUsd === 'number' ? `$${u.totalUsd.toFixed(4)}` : typeof u.unknownCostRequests === 'number'
      && u.unknownCostRequests > 0 ? `unknown (${u.unknownCostRequests} requests without a known price: see byok.prices)`
      : '$0.00';
    this.item.tooltip = new vscode.MarkdownString([
      '**byok**',
      `- Chat: ${chat}`,
      `- Inline edit: ${modelOf(features.inlineEdit ?? features.chat)}`,
      `- Tab: ${builtin(features.tab)}`,
      `- Apply: ${builtin(features.apply)}`,
      `- This month: ${spent}${typeof u.budgetUsd === 'number' ? ` of ${dollars(u.budgetUsd)} budget` : ''}${
        share !== undefined ? ` (${Math.round(share * 100)} %)` : ''}`,
      status.status === 'rejected' ? `- status unavailable: ${describeError(status.reason)}` : '',
    ].filter(Boolean).join('\n') + '\n\nClick for model, keys, usage and MCP servers.');
  }

  /** The status bar item's quick pick. */
  async showMenu(): Promise<void> {
    const items: (vscode.QuickPickItem & { run: () => Thenable<unknown> })[] = [
      { label: '$(arrow-swap) Switch chat model', run: () => this.switchModel() },
      { label: '$(key) Verify API key', run: () => vscode.commands.executeCommand(UiCommand.verifyKey) },
      { label: '$(graph) Show usage', run: () => vscode.commands.executeCommand(UiCommand.usage) },
      { label: '$(server) MCP servers', run: () => vscode.commands.executeCommand(UiCommand.mcpServers) },
      { label: '$(add) Set API key', run: () => vscode.commands.executeCommand(UiCommand.setKey) },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: 'byok' });
    await pick?.run();
  }

  /** Pick a chat model from `byok.listModels`; write it to the user setting `byok.features.chat`. */
  private async switchModel(): Promise<void> {
    const models = (await this.exec<ModelEntry[]>(Command.listModels, {})).filter((m) => m.features.includes('chat'));
    const cfg = vscode.workspace.getConfiguration('byok');
    const current = modelOf((cfg.get<Record<string, unknown>>('features') ?? {}).chat);
    const pick = await vscode.window.showQuickPick(models.map((m) => ({
      label: m.id,
      description: `${m.provider}${m.hasKey === false ? ' — no key' : ''}${m.id === current ? ' (current)' : ''}`,
    })), { title: 'byok: chat model', placeHolder: 'Written to your user setting byok.features.chat' });
    if (pick === undefined) return;
    const inspected = cfg.inspect<Record<string, unknown>>('features');
    const user = { ...(inspected?.globalValue ?? {}) };
    const chat = user.chat;
    user.chat = Array.isArray(chat) ? [pick.label, ...(chat as unknown[]).filter((id) => id !== pick.label)]
      : typeof chat === 'object' && chat !== null ? { ...chat, model: pick.label } : pick.label;
    await cfg.update('features', user, vscode.ConfigurationTarget.Global);
    const overridden = inspected?.workspaceValue?.chat ?? inspected?.workspaceFolderValue?.chat;
    if (overridden !== undefined) {
      void vscode.window.showWarningMessage(
        'byok: the workspace setting byok.features.chat overrides the user setting just written');
    }
  }
}
