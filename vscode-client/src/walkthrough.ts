/**
 * The getting-started walkthrough (`contributes.walkthroughs` in package.json) ticks a step when its context key
 * turns true (`completionEvents: ["onContext:<key>"]`); VS Code remembers a ticked step.
 */
import * as vscode from 'vscode';

/** The context key of each step, set once the user has done it for real. */
export const WalkthroughStep = {
  /** A key is stored (set now, or found at start). */
  keySet: 'byok.walkthrough.keySet',
  /** A key verified OK. */
  keyVerified: 'byok.walkthrough.keyVerified',
  /** A chat answer arrived. */
  chatAnswered: 'byok.walkthrough.chatAnswered',
  /** An inline edit landed in a file (accepted, or applied at once). */
  inlineEditLanded: 'byok.walkthrough.inlineEditLanded',
} as const;

export function stepDone(step: (typeof WalkthroughStep)[keyof typeof WalkthroughStep]): void {
  void vscode.commands.executeCommand('setContext', step, true);
}
