/**
 * The output folder's lock, `.lock`: one run writes a dataset folder at a time (audit, explain and
 * detect on folders, evaluate, merge). A dead run's lock is taken over; a live run's never.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OutputError, pidAlive } from '../util/write-node.js';

/** The lock file's name inside an output folder. */
export const LOCK = '.lock';

const STALE_LOCK_MS = 10 * 60 * 1000;

/**
 * Takes the folder's lock, `.lock` (JSON: pid, host, start time), with atomic primitives only: the
 * record is written to a uniquely named file and hard-linked to `.lock` (link fails if `.lock` exists),
 * so a lock file is never seen half-written and two runs can never both create it. A dead run's lock
 * (its pid gone on this host, or untouched for 10 minutes on another host) is taken over under a second,
 * short-lived lock (breakStaleLock): the lock file is removed only by that lock's holder and only while it
 * is still the file judged dead (same inode), so however many runs find it dead, one takes it and the
 * others are refused; a live run's lock is never removed.
 */
export async function acquireLock(dir: string): Promise<string> {
  const lockPath = path.join(dir, LOCK);
  const me = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  const unique = () => path.join(dir, `${LOCK}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const mine = unique();
  try {
    await fs.promises.writeFile(mine, JSON.stringify(me), { flag: 'wx' });
  } catch (e) {
    throw new OutputError(`cannot create ${lockPath}: ${(e as Error).message}`);
  }
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await fs.promises.link(mine, lockPath);
        return lockPath;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new OutputError(`cannot create ${lockPath}: ${(e as Error).message}`);
      }
      let other: { pid?: number; host?: string } = {};
      let st: fs.Stats | undefined;
      try {
        st = await fs.promises.stat(lockPath);
        other = JSON.parse(await fs.promises.readFile(lockPath, 'utf8'));
      } catch {
        /* gone meanwhile (try again), or unreadable: an older version's lock torn by a kill; stale */
      }
      if (!st) continue;
      const stale = !other.pid || (other.host === me.host ? other.pid === process.pid || !pidAlive(other.pid) : Date.now() - st.mtimeMs > STALE_LOCK_MS);
      if (!stale) throw new OutputError(`another gradcam run (pid ${other.pid} on ${other.host}) is writing to ${dir}; if none is, delete ${lockPath}`);
      await testPause('GRADCAM_TEST_LOCK_PAUSE_MS');
      if (await breakStaleLock(lockPath, st, mine, unique)) return lockPath;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
    }
    const other = await fs.promises.readFile(lockPath, 'utf8').then((t) => JSON.parse(t) as { pid?: number; host?: string }, () => ({} as { pid?: number; host?: string }));
    throw new OutputError(`another gradcam run (pid ${other.pid ?? '?'} on ${other.host ?? '?'}) is writing to ${dir}; if none is, delete ${lockPath}`);
  } finally {
    await fs.promises.unlink(mine).catch(() => {});
  }
}

/**
 * Replaces a dead run's lock (`stale`: the file judged dead) by this run's (`mine`), holding a second,
 * short-lived lock (`.lock.break`) while it does: only its holder may remove the lock file, and only while
 * that is still the dead run's file, so a live run's lock is never removed, whichever runs race. A breaker
 * left by a run killed in those few milliseconds is removed once its process is gone. True: the lock is
 * this run's; false: try again (another run is breaking it, or took it).
 */
async function breakStaleLock(lockPath: string, stale: fs.Stats, mine: string, unique: () => string): Promise<boolean> {
  const breaker = `${lockPath}.break`;
  try {
    await fs.promises.link(mine, breaker);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new OutputError(`cannot create ${breaker}: ${(e as Error).message}`);
    const b = await fs.promises.stat(breaker).catch(() => undefined);
    const owner = await fs.promises.readFile(breaker, 'utf8').then((t) => JSON.parse(t) as { pid?: number; host?: string }, () => ({} as { pid?: number; host?: string }));
    const dead = b && (owner.host === os.hostname() ? !owner.pid || !pidAlive(owner.pid) : Date.now() - b.mtimeMs > STALE_LOCK_MS);
    if (b && dead) {
      // a breaker whose run died: move it aside, and remove it only if it is still that file
      const moved = unique();
      if (await fs.promises.rename(breaker, moved).then(() => true, () => false)) {
        const got = await fs.promises.stat(moved).catch(() => undefined);
        if (got && (got.ino !== b.ino || got.dev !== b.dev)) await fs.promises.link(moved, breaker).catch(() => {});
        await fs.promises.unlink(moved).catch(() => {});
      }
    }
    return false;
  }
  try {
    const now = await fs.promises.stat(lockPath).catch(() => undefined);
    if (now && now.ino === stale.ino && now.dev === stale.dev) await fs.promises.unlink(lockPath).catch(() => {});
    return await fs.promises.link(mine, lockPath).then(() => true, () => false);
  } finally {
    await fs.promises.unlink(breaker).catch(() => {});
  }
}

/** Testing aid: waits the milliseconds in the environment variable `name` (a window made wide enough for a race to happen in a test). */
async function testPause(name: string): Promise<void> {
  const ms = Number(process.env[name] ?? 0);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}
