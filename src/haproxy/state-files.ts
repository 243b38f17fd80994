/** Small file helpers for the state dir: pid file, master log tail and rotation. */
import { open, readFile, rename, stat } from 'node:fs/promises';

const LOG_ROTATE_BYTES = 10 * 1024 * 1024;
const LOG_TAIL_BYTES = 8 * 1024;

export async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export async function fileSize(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.size ?? 0;
}

/** What was appended to `file` after `offset` (at most the last 8 KiB), trimmed. */
export async function readTail(file: string, offset: number): Promise<string> {
  const size = await fileSize(file);
  const from = Math.max(offset > size ? 0 : offset, size - LOG_TAIL_BYTES);
  if (size <= from) return '';
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(size - from);
    await handle.read(buf, 0, buf.length, from);
    return buf.toString('utf8').trim();
  } finally {
    await handle.close();
  }
}

export async function rotateLog(file: string): Promise<void> {
  if ((await fileSize(file)) > LOG_ROTATE_BYTES) await rename(file, `${file}.1`);
}
