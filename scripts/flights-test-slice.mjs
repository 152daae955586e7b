// Cuts the small flights slice committed under tests/data/flights from flights-3m.parquet.
//
//   node scripts/flights-test-slice.mjs [PARQUET] [OUT_DIR]
//
// Defaults: node_modules/vega-datasets/data/flights-3m.parquet and tests/data/flights (relative to
// the repository root). The output is deterministic: the same parquet file gives the same bytes.
//
// train/flights.csv: 4,000 rows sampled evenly, in date order, from the flights of the two weeks
// 2001-01-01 00:00 to 2001-01-14 23:59. validation/flights.csv: 1,000 rows sampled the same way
// from the following week, 2001-01-15 00:00 to 2001-01-21 23:59.

import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { orderByDate, readFlightsParquet, writeCsv } from './lib/flights-parquet.mjs'

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const MICROS_PER_DAY = 86400 * 1e6
const WINDOWS = [
  { name: 'train', start: Date.UTC(2001, 0, 1) * 1000, days: 14, rows: 4000 },
  { name: 'validation', start: Date.UTC(2001, 0, 15) * 1000, days: 7, rows: 1000 },
]

// Returns `count` indices spread evenly over `ordered` (the first one always included).
function sampleEvenly(ordered, count) {
  if (ordered.length < count) {
    throw new Error(`the window contains ${ordered.length} rows, fewer than the ${count} to sample`)
  }
  const sample = new Uint32Array(count)
  for (let k = 0; k < count; k++) sample[k] = ordered[Math.floor((k * ordered.length) / count)]
  return sample
}

async function main() {
  const parquet = process.argv[2] ?? join(REPO_ROOT, 'node_modules/vega-datasets/data/flights-3m.parquet')
  const outDir = process.argv[3] ?? join(REPO_ROOT, 'tests/data/flights')
  const flights = await readFlightsParquet(parquet)
  const order = orderByDate(flights)

  for (const window of WINDOWS) {
    const end = window.start + window.days * MICROS_PER_DAY
    const inWindow = order.filter((i) => flights.date[i] >= window.start && flights.date[i] < end)
    const sample = sampleEvenly(inWindow, window.rows)
    await writeCsv(join(outDir, window.name, 'flights.csv'), flights, sample)
    console.log(`${window.name}: ${sample.length} of ${inWindow.length} rows -> ` +
                join(outDir, window.name, 'flights.csv'))
  }
}

main().catch((error) => {
  console.error(`flights-test-slice: ${error.message}`)
  process.exit(1)
})
