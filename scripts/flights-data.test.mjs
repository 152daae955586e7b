// Tests of the flights data scripts: run with `node --test scripts/` from the repository root
// after `npm ci`.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { CSV_HEADER, csvLine, formatDate, orderByDate } from './lib/flights-parquet.mjs'

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const PARQUET = join(REPO_ROOT, 'node_modules/vega-datasets/data/flights-3m.parquet')
const run = promisify(execFile)

function flightsOf(rows) {
  return {
    rowCount: rows.length,
    date: Float64Array.from(rows.map((r) => r[0])),
    delay: Int32Array.from(rows.map((r) => r[1])),
    distance: Int32Array.from(rows.map((r) => r[2])),
    origin: rows.map((r) => r[3]),
    destination: rows.map((r) => r[4]),
  }
}

const micros = (iso) => Date.parse(iso + 'Z') * 1000

test('formatDate prints the stored wall-clock time', () => {
  assert.equal(formatDate(micros('2001-01-01T00:01:00')), '2001-01-01 00:01')
  assert.equal(formatDate(micros('2001-06-30T23:59:59')), '2001-06-30 23:59')
  assert.equal(formatDate(micros('2001-12-09T07:05:00')), '2001-12-09 07:05')
})

test('csvLine quotes fields with separators', () => {
  const flights = flightsOf([[micros('2001-01-02T03:04:00'), -5, 300, 'A,B', 'say "x"']])
  assert.equal(csvLine(flights, 0), '2001-01-02 03:04,-5,300,"A,B","say ""x"""\n')
})

test('orderByDate keeps file order for equal dates', () => {
  const t = micros('2001-01-01T10:00:00')
  const flights = flightsOf([
    [t + 60e6, 0, 1, 'C', 'X'], [t, 0, 1, 'A', 'X'], [t + 60e6, 0, 1, 'D', 'X'], [t, 0, 1, 'B', 'X'],
  ])
  assert.deepEqual(Array.from(orderByDate(flights)), [1, 3, 0, 2])
})

test('flights-to-csv splits by time', async () => {
  const out = await mkdtemp(join(tmpdir(), 'tandem-flights-'))
  try {
    const { stdout } = await run('node', [join(REPO_ROOT, 'scripts/flights-to-csv.mjs'), PARQUET,
                                          out, '--expect-rows', '3000000'])
    const summary = JSON.parse(stdout)
    assert.equal(summary.train_rows, 2700000)
    assert.equal(summary.validation_rows, 300000)

    const train = (await readFile(join(out, 'train/flights.csv'), 'utf8')).split('\n')
    const validation = (await readFile(join(out, 'validation/flights.csv'), 'utf8')).split('\n')
    assert.equal(train[0], CSV_HEADER)
    assert.equal(validation[0], CSV_HEADER)
    assert.equal(train.length, 2700000 + 2)  // header, rows and the empty text after the last \n
    assert.equal(validation.length, 300000 + 2)
    assert.equal(train.at(-1), '')
    assert.equal(train[1], '2001-01-01 00:01,33,2176,LAS,PHL')

    // "YYYY-MM-DD HH:MM" sorts as text in time order.
    const lastTrainDate = train.at(-2).slice(0, 16)
    assert.ok(lastTrainDate <= validation[1].slice(0, 16))
    for (let i = 2; i < train.length - 1; i += 9973) {
      assert.ok(train[i - 1].slice(0, 16) <= train[i].slice(0, 16), `train line ${i + 1}`)
    }
  } finally {
    await rm(out, { recursive: true, force: true })
  }
})

test('committed test slice matches the script', async () => {
  const out = await mkdtemp(join(tmpdir(), 'tandem-slice-'))
  try {
    await run('node', [join(REPO_ROOT, 'scripts/flights-test-slice.mjs'), PARQUET, out])
    for (const name of ['train/flights.csv', 'validation/flights.csv']) {
      const expected = await readFile(join(REPO_ROOT, 'tests/data/flights', name), 'utf8')
      const actual = await readFile(join(out, name), 'utf8')
      assert.equal(actual, expected, `tests/data/flights/${name} differs from a fresh cut; ` +
                                     'rerun node scripts/flights-test-slice.mjs')
    }
  } finally {
    await rm(out, { recursive: true, force: true })
  }
})
