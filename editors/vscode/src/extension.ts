// The FSL extension: the language (package.json, the TextMate grammar, the
// language configuration) needs no code; this starts `fsl lsp` over stdio and
// keeps it running for .fsl files.
import * as vscode from 'vscode';
import {
    Executable,
    LanguageClient,
    LanguageClientOptions,
    ServerOptions,
} from 'vscode-languageclient/node';
import { processEnvironment, resolveServer } from './server';

let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;
// fields, events, channels and templates come from the project file and the templates folder
let projectFiles: vscode.FileSystemWatcher | undefined;

function workspaceFolders(): string[] {
    return (vscode.workspace.workspaceFolders ?? [])
        .filter((f) => f.uri.scheme === 'file')
        .map((f) => f.uri.fsPath);
}

async function start(): Promise<void> {
    const setting = vscode.workspace.getConfiguration('fsl').get<string>('path');
    const server = resolveServer(setting, workspaceFolders(), processEnvironment());
    if (!server) {
        const where = setting ? `fsl.path (${setting}) names no file` : 'no fsl found in the workspace\'s .venv or on PATH';
        // not awaited: activation must not wait for the user to read the message
        void vscode.window.showErrorMessage(
            `FSL: cannot start the language server: ${where}. Install fsl in the workspace's .venv (see the README) or set fsl.path.`,
            'Open Settings').then((choice) => choice === 'Open Settings'
            ? vscode.commands.executeCommand('workbench.action.openSettings', 'fsl.path')
            : undefined);
        return;
    }
    output?.appendLine(`Starting ${server.command} ${server.args.join(' ')} (from ${server.origin})`);
    // no `transport`: stdio without the `--stdio` flag vscode-languageclient would append, so
    // the process is exactly `fsl lsp` (CLI.md)
    const run: Executable = { command: server.command, args: server.args };
    const serverOptions: ServerOptions = { run, debug: run };
    const clientOptions: LanguageClientOptions = {
        documentSelector: [
            { scheme: 'file', language: 'fsl' },
            { scheme: 'untitled', language: 'fsl' },
        ],
        synchronize: { fileEvents: projectFiles },
        outputChannel: output,
    };
    client = new LanguageClient('fsl', 'FSL Language Server', serverOptions, clientOptions);
    try {
        await client.start();
    } catch (e) {
        output?.appendLine(`The language server did not start: ${String(e)}`);
        void vscode.window.showErrorMessage(
            `FSL: ${server.command} lsp did not start (is fsl recent enough to have \`fsl lsp\`?). See the output.`);
        client = undefined;
    }
}

async function stop(): Promise<void> {
    const running = client;
    client = undefined;
    if (running) {
        await running.stop();
    }
}

async function restart(): Promise<void> {
    await stop();
    await start();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    output = vscode.window.createOutputChannel('FSL Language Server');
    projectFiles = vscode.workspace.createFileSystemWatcher('**/{fsl.yaml,templates/**}');
    context.subscriptions.push(
        output,
        projectFiles,
        vscode.commands.registerCommand('fsl.restartServer', restart),
        vscode.commands.registerCommand('fsl.showOutput', () => output?.show()),
        vscode.workspace.onDidChangeConfiguration((e) => {
            if (e.affectsConfiguration('fsl.path')) {
                void restart();
            }
        }),
        vscode.workspace.onDidChangeWorkspaceFolders(() => {
            if (!client) {
                void start(); // a folder with its .venv may have been added
            }
        }),
    );
    await start();
}

export function deactivate(): Promise<void> {
    return stop();
}
