/**
 * The one pipeline of runs over many inputs (`explain` on files, the dataset engine's batches): item i+1
 * is prepared (its decode in the thread pool) while item i is processed, in order, one item ahead.
 */
export async function* preparedAhead<T>(count: number, prepare: (i: number) => Promise<T>): AsyncGenerator<T, void, undefined> {
  let next = count > 0 ? prepare(0) : undefined;
  try {
    for (let i = 0; i < count; i++) {
      const current = await next!;
      next = i + 1 < count ? prepare(i + 1) : undefined;
      next?.catch(() => {}); // awaited on the next step, or below when the consumer stops early
      yield current;
    }
  } finally {
    await next?.catch(() => {});
  }
}
