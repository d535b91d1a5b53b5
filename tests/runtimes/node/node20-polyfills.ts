// Vitest 5 targets Node >= 22: its reporter prints failures with Map.groupBy and its snapshot summary uses
// Object.groupBy (ES2024, Node >= 21). On Node 20 the first failing test crashed the run before any report was
// written, so vitest.config.ts installs these (main process only; tests never see them).
type GroupBy = <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => unknown

const maps = Map as unknown as { groupBy?: GroupBy }
maps.groupBy ??= <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => {
  const groups = new Map<K, T[]>()
  let i = 0
  for (const item of items) {
    const k = key(item, i++)
    const group = groups.get(k)
    if (group) group.push(item)
    else groups.set(k, [item])
  }
  return groups
}

const objects = Object as unknown as { groupBy?: GroupBy }
objects.groupBy ??= <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => {
  const groups: Record<PropertyKey, T[]> = Object.create(null)
  let i = 0
  for (const item of items) {
    const k = key(item, i++) as PropertyKey
    if (!groups[k]) groups[k] = []
    groups[k].push(item)
  }
  return groups
}
