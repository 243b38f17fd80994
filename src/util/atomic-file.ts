/** Crash-safe file replacement: write a sibling, fsync, rename, fsync the directory. */
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** `data` is the content, or its pieces in order (written as they come: a long write can yield between them). */
export async function writeFileAtomic(path: string, data: string | AsyncIterable<string>, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await open(tmp, 'w', mode);
    try {
      if (typeof data === 'string') await file.writeFile(data, 'utf8');
      else
        for await (const piece of data) {
          const bytes = Buffer.from(piece, 'utf8');
          for (let at = 0; at < bytes.length;) at += (await file.write(bytes, at, bytes.length - at)).bytesWritten;
        }
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new Error(`Could not write ${path}: ${(err as Error).message}`, { cause: err });
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
