// Which `fsl` the extension starts (src/server.ts), on real files in a
// scratch folder, and -- when this machine's fsl has `fsl lsp` -- that the
// command it resolves answers an LSP `initialize` over stdio.
import { spawn, spawnSync } from 'child_process';
import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import { Environment, LSP_ARGS, processEnvironment, resolveServer } from '../src/server';

function scratch(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), 'fsl-vscode-'));
}

function executable(p: string): string {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, '#!/bin/sh\n', { mode: 0o755 });
    return p;
}

function env(pathVariable: string, home = os.homedir()): Environment {
    return { ...processEnvironment(), pathVariable, home };
}

test('the fsl.path setting wins, with ~ and ${workspaceFolder} expanded', () => {
    const home = scratch();
    const ws = scratch();
    const mine = executable(path.join(home, 'tools', 'fsl'));
    executable(path.join(ws, '.venv', 'bin', 'fsl'));
    assert.deepEqual(resolveServer('~/tools/fsl', [ws], env('', home)),
        { command: mine, args: ['lsp'], origin: 'setting' });
    const inWs = executable(path.join(ws, 'bin', 'fsl'));
    assert.equal(resolveServer('${workspaceFolder}/bin/fsl', [ws], env(''))?.command, inWs);
    assert.equal(resolveServer('bin/fsl', [ws], env(''))?.command, inWs, 'relative to the first folder');
    assert.equal(resolveServer('fsl-nightly', [ws], env(''))?.command, 'fsl-nightly', 'a bare name is for spawn');
    assert.equal(resolveServer('/no/such/fsl', [ws], env('')), undefined);
});

test('without a setting: the workspace virtual environment, then PATH', () => {
    const ws = scratch();
    const other = scratch();
    const bin = scratch();
    const onPath = executable(path.join(bin, 'fsl'));
    assert.deepEqual(resolveServer('', [ws], env(bin)), { command: onPath, args: ['lsp'], origin: 'PATH' });
    const venv = executable(path.join(other, 'venv', 'bin', 'fsl'));
    assert.equal(resolveServer(undefined, [ws, other], env(bin))?.command, venv, 'any folder, `venv` too');
    const dotVenv = executable(path.join(ws, '.venv', 'bin', 'fsl'));
    assert.deepEqual(resolveServer('  ', [ws, other], env(bin)),
        { command: dotVenv, args: ['lsp'], origin: 'virtualenv' });
    assert.equal(resolveServer('', [scratch()], env(scratch())), undefined, 'nothing anywhere');
});

// ------------------------------------------------------------ the real server

function frame(message: object): string {
    const body = JSON.stringify(message);
    return `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n\r\n${body}`;
}

/** The repository's own fsl (its .venv, as the README sets it up), if it has `fsl lsp`. */
function repositoryFsl(): string | undefined {
    const root = path.resolve(__dirname, '..', '..', '..', '..');
    const server = resolveServer(process.env.FSL_PATH, [root], processEnvironment());
    if (!server) {
        return undefined;
    }
    const help = spawnSync(server.command, ['lsp', '--help'], { encoding: 'utf8' });
    return help.status === 0 ? server.command : undefined;
}

const fsl = repositoryFsl();

test('the resolved command answers initialize over stdio',
    { skip: fsl ? false : 'this fsl has no `fsl lsp`', timeout: 60_000 },
    async () => {
        // exactly what the extension spawns (src/extension.ts gives no transport: no --stdio flag)
        const child = spawn(fsl!, LSP_ARGS, { stdio: ['pipe', 'pipe', 'inherit'] });
        let received = Buffer.alloc(0);
        const reply = new Promise<{ id: number; result: { capabilities: object } }>((resolve, reject) => {
            child.on('error', reject);
            child.on('exit', (code) => reject(new Error(`fsl lsp exited with ${code}`)));
            child.stdout.on('data', (chunk: Buffer) => {
                received = Buffer.concat([received, chunk]);
                // LSP base protocol: header lines (Content-Length, maybe Content-Type), a blank line, the body
                for (;;) {
                    const end = received.indexOf('\r\n\r\n');
                    const length = /Content-Length: *(\d+)/i.exec(received.subarray(0, Math.max(end, 0)).toString('ascii'));
                    if (end < 0 || !length || received.length < end + 4 + Number(length[1])) {
                        return;
                    }
                    const body = received.subarray(end + 4, end + 4 + Number(length[1]));
                    received = received.subarray(end + 4 + Number(length[1]));
                    const message = JSON.parse(body.toString('utf8'));
                    if (message.id === 1) {
                        resolve(message); // notifications (log messages...) may come first
                    }
                }
            });
        });
        child.stdin.write(frame({
            jsonrpc: '2.0', id: 1, method: 'initialize',
            params: { processId: process.pid, rootUri: null, capabilities: {} },
        }));
        const answer = await reply;
        assert.equal(answer.id, 1);
        assert.ok(answer.result.capabilities, 'the server states its capabilities');
        child.stdin.write(frame({ jsonrpc: '2.0', id: 2, method: 'shutdown' }));
        child.stdin.write(frame({ jsonrpc: '2.0', method: 'exit' }));
        child.removeAllListeners('exit');
        await new Promise((resolve) => child.on('exit', resolve));
    });
