// Which `fsl` starts the language server: no `vscode` import here, so that the
// unit tests (test/server.test.ts) run it under plain node.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface ServerCommand {
    /** the executable, as spawned */
    command: string;
    /** `fsl lsp` speaks LSP on stdin/stdout (CLI.md) */
    args: string[];
    /** why this one: for the output channel and the error message */
    origin: 'setting' | 'virtualenv' | 'PATH';
}

export interface Environment {
    platform: NodeJS.Platform;
    home: string;
    pathVariable: string;
    isFile(p: string): boolean;
}

export const LSP_ARGS = ['lsp'];

export function processEnvironment(): Environment {
    return {
        platform: process.platform,
        home: os.homedir(),
        pathVariable: process.env.PATH ?? '',
        isFile: (p) => {
            try {
                return fs.statSync(p).isFile();
            } catch {
                return false;
            }
        },
    };
}

function executableNames(env: Environment): string[] {
    return env.platform === 'win32' ? ['fsl.exe', 'fsl.cmd', 'fsl'] : ['fsl'];
}

function expand(setting: string, folders: readonly string[], env: Environment): string {
    let p = setting.trim();
    if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) {
        p = path.join(env.home, p.slice(1));
    }
    p = p.replace(/\$\{workspaceFolder\}/g, folders[0] ?? '.');
    if (!path.isAbsolute(p) && (p.includes('/') || p.includes('\\')) && folders.length > 0) {
        p = path.join(folders[0], p);
    }
    return p;
}

/** The first `fsl` found on PATH, or undefined. */
export function onPath(env: Environment): string | undefined {
    const sep = env.platform === 'win32' ? ';' : ':';
    for (const dir of env.pathVariable.split(sep)) {
        for (const name of executableNames(env)) {
            if (dir && env.isFile(path.join(dir, name))) {
                return path.join(dir, name);
            }
        }
    }
    return undefined;
}

/**
 * The `fsl` to run: the `fsl.path` setting when given; else the project's own
 * virtual environment (`.venv` or `venv` in a workspace folder: where the README's
 * set-up installs fsl), else `fsl` on PATH.  Undefined when none is found.
 */
export function resolveServer(setting: string | undefined, folders: readonly string[],
    env: Environment): ServerCommand | undefined {
    if (setting && setting.trim() !== '') {
        const p = expand(setting, folders, env);
        // a bare name ("fsl", "fsl-dev") is looked up on PATH by spawn itself
        const bare = !p.includes('/') && !p.includes('\\');
        return bare || env.isFile(p) ? { command: p, args: LSP_ARGS, origin: 'setting' } : undefined;
    }
    const bin = env.platform === 'win32' ? 'Scripts' : 'bin';
    for (const folder of folders) {
        for (const venv of ['.venv', 'venv']) {
            for (const name of executableNames(env)) {
                const candidate = path.join(folder, venv, bin, name);
                if (env.isFile(candidate)) {
                    return { command: candidate, args: LSP_ARGS, origin: 'virtualenv' };
                }
            }
        }
    }
    const found = onPath(env);
    return found ? { command: found, args: LSP_ARGS, origin: 'PATH' } : undefined;
}
